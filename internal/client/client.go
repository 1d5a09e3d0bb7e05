// Package client is a small Go client of prereg's admin API, used by the
// CLI when it talks to a running service (--server).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

// Client calls one prereg service with one admin token.
type Client struct {
	BaseURL string
	Token   string
	HTTP    *http.Client
}

// New returns a client with sane timeouts for admin calls; streaming calls
// (import, export, backup) are bounded by their context instead.
func New(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: &http.Client{}}
}

// Request sends one call. A non-2xx answer becomes a *prereg.Error carrying
// the service's code and message; a 2xx answer is decoded into out (when
// out is an io.Writer, the body is copied into it instead).
func (c *Client) Request(ctx context.Context, method, path string, query url.Values, body io.Reader, contentType string, out any) error {
	_, err := c.request(ctx, method, path, query, body, contentType, out)
	return err
}

// request is Request that also returns the answer's headers.
func (c *Client) request(ctx context.Context, method, path string, query url.Values, body io.Reader, contentType string, out any) (http.Header, error) {
	u := c.BaseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, prereg.Wrap(prereg.Invalid, err, "bad server URL "+c.BaseURL)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, prereg.Wrap(prereg.Unavailable, err, fmt.Sprintf("cannot reach %s: %v", c.BaseURL, cause(err)))
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return resp.Header, decodeError(resp)
	}
	switch o := out.(type) {
	case nil:
		return resp.Header, nil
	case io.Writer:
		_, err := io.Copy(o, resp.Body)
		return resp.Header, err
	default:
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.Header, prereg.Wrap(prereg.Internal, err, "unexpected answer from the server")
		}
		return resp.Header, nil
	}
}

// cause is the reason a call failed without the method and URL that
// url.Error repeats ("dial tcp 127.0.0.1:1: connect: connection refused").
func cause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

var codes = map[string]prereg.Code{
	"invalid_request": prereg.Invalid, "unauthorized": prereg.Unauthorized, "forbidden": prereg.Forbidden,
	"not_found": prereg.NotFound, "conflict": prereg.Conflict, "payload_too_large": prereg.TooLarge,
	"unsupported_media_type": prereg.UnsupportedMedia, "rate_limited": prereg.RateLimited,
	"unavailable": prereg.Unavailable, "internal": prereg.Internal,
}

func decodeError(resp *http.Response) error {
	var body struct {
		Error struct {
			Code    string              `json:"code"`
			Message string              `json:"message"`
			Details []prereg.FieldError `json:"details"`
		} `json:"error"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err := json.Unmarshal(raw, &body); err != nil || body.Error.Code == "" {
		return prereg.Errorf(prereg.Unavailable, "server answered %s", resp.Status)
	}
	code, ok := codes[body.Error.Code]
	if !ok {
		code = prereg.Internal
	}
	msg := body.Error.Message
	if code == prereg.Internal {
		// Keep the server's words: ErrorMessage hides Internal messages.
		code = prereg.Unavailable
		msg = "server error: " + msg
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		msg += " (retry after " + ra + "s)"
	}
	return &prereg.Error{Code: code, Message: msg, Details: body.Error.Details}
}

// JSON is a shortcut for calls with a JSON body.
func (c *Client) JSON(ctx context.Context, method, path string, query url.Values, in, out any) error {
	_, err := c.JSONHeader(ctx, method, path, query, in, out)
	return err
}

// JSONHeader is JSON that also returns the answer's headers (such as
// X-Prereg-Change, which says what a write did).
func (c *Client) JSONHeader(ctx context.Context, method, path string, query url.Values, in, out any) (http.Header, error) {
	var body io.Reader
	ct := ""
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body, ct = bytes.NewReader(raw), "application/json"
	}
	return c.request(ctx, method, path, query, body, ct, out)
}

// Timeout returns ctx bounded for a quick admin call.
func Timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 30*time.Second)
}
