package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// tlsConfig loads the certificate and reloads it on SIGHUP, so a renewed
// certificate is picked up without a restart (and without dropping logins).
func tlsConfig(ctx context.Context, certFile, keyFile string, log *slog.Logger) (*tls.Config, func(), error) {
	var cur atomic.Pointer[tls.Certificate]
	load := func() error {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return fmt.Errorf("load TLS certificate %s and key %s: %w", certFile, keyFile, err)
		}
		cur.Store(&c)
		return nil
	}
	if err := load(); err != nil {
		return nil, nil, err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				if err := load(); err != nil {
					log.Error("TLS reload failed; keeping the previous certificate", slog.String("error", err.Error()))
				} else {
					log.Info("TLS certificate reloaded")
				}
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return cur.Load(), nil
		},
	}
	return cfg, func() { signal.Stop(hup); close(done) }, nil
}
