package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// serveMetrics serves /metrics alone on a listener of its own
// (--metrics-addr), so the scrape can stay on an internal address while the
// main listener faces Auth0. It is plain HTTP. stop shuts it down.
func serveMetrics(ln net.Listener, h http.Handler, log *slog.Logger, e *env) (stop func()) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener", slog.String("error", err.Error()))
		}
	}()
	bound := ln.Addr().String()
	log.Info("metrics listening", slog.String("addr", bound))
	fmt.Fprintf(e.stdout, "prereg metrics on http://%s/metrics\n", bound)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}
}
