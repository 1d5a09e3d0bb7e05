// Package apicheck checks HTTP traffic against prereg's API description
// (httpapi.OpenAPI, CONTRACT §11). Tests put its Transport under their HTTP
// clients, so every request they make and every answer they get is checked
// and a mismatch fails the test that made the call. Only tests import it.
package apicheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/prereg/prereg/internal/httpapi"
)

func init() {
	// An import body is text for the description's purposes: kin-openapi's
	// CSV decoder would refuse the malformed rows tests send on purpose
	// (and that the service reports as row errors).
	openapi3filter.RegisterBodyDecoder("text/csv", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("application/csv", openapi3filter.PlainBodyDecoder)
}

// Load parses and validates a document. Its servers are dropped, so that
// the router matches any address (tests listen on random ports).
func Load(raw []byte) (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	doc.Servers = nil
	return doc, nil
}

// Checker validates exchanges against one document.
type Checker struct {
	Doc    *openapi3.T
	router routers.Router
}

// New returns a Checker of doc.
func New(doc *openapi3.T) (*Checker, error) {
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &Checker{Doc: doc, router: r}, nil
}

var (
	defaultOnce sync.Once
	defaultC    *Checker
	defaultErr  error
)

// Default is the Checker of the embedded document, built once.
func Default() (*Checker, error) {
	defaultOnce.Do(func() {
		doc, err := Load(httpapi.OpenAPI)
		if err == nil {
			defaultC, err = New(doc)
		}
		defaultErr = err
	})
	return defaultC, defaultErr
}

// Check validates one exchange; body is the answer's body. The request is
// checked only when the service accepted it (2xx): tests send bad requests
// on purpose, and the service refuses more than a schema can say. The
// answer is always checked; an answer on a path or method the document
// does not have must be a 404, or a 405 with Allow, in the error shape.
func (c *Checker) Check(req *http.Request, resp *http.Response, body []byte) error {
	if IsConsole(req.URL.Path) {
		return nil
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		return c.checkUndescribed(err, req, resp, body)
	}
	ctx := context.Background()
	in := &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: params,
		Route:      route,
		Options: &openapi3filter.Options{
			// Authentication is the service's tests' business; the
			// document only has to declare it.
			AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
			MultiError:         true,
		},
	}
	if resp.StatusCode < 300 {
		switch {
		case req.GetBody != nil:
			rc, err := req.GetBody()
			if err != nil {
				return err
			}
			in.Request = req.Clone(ctx)
			in.Request.Body = rc
			// The service reads JSON bodies whatever their Content-Type
			// says, and tests often send none.
			if in.Request.Header.Get("Content-Type") == "" {
				in.Request.Header.Set("Content-Type", "application/json")
			}
		case req.Body != nil && req.Body != http.NoBody:
			in.Options.ExcludeRequestBody = true // streamed: nothing to read again
		}
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return fmt.Errorf("the request, answered %d, does not match: %w", resp.StatusCode, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("the answer does not match: %w", err)
	}
	return nil
}

// IsConsole reports whether path is the admin console's: HTML pages for
// people, which the API description leaves out on purpose.
func IsConsole(path string) bool { return path == "/console" || strings.HasPrefix(path, "/console/") }

func (c *Checker) checkUndescribed(findErr error, req *http.Request, resp *http.Response, body []byte) error {
	if !errors.Is(findErr, routers.ErrPathNotFound) && !errors.Is(findErr, routers.ErrMethodNotAllowed) {
		return fmt.Errorf("find route: %w", findErr)
	}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil // a redirect to the canonical path; the next call is checked
	case resp.StatusCode == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "":
		return errors.New("a 405 answer without an Allow header")
	case resp.StatusCode == http.StatusNotFound, resp.StatusCode == http.StatusMethodNotAllowed:
	case resp.StatusCode == http.StatusBadRequest && !standardMethod(req.Method):
		// A made-up method (BREW) is not a method the path lacks.
	default:
		return fmt.Errorf("answered %d on a path or method the description does not have", resp.StatusCode)
	}
	return c.CheckError(body)
}

func standardMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return true
	}
	return false
}

// CheckError validates body against the Error schema.
func (c *Checker) CheckError(body []byte) error {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("error answer is not JSON: %q", body)
	}
	if err := c.Doc.Components.Schemas["Error"].Value.VisitJSON(v); err != nil {
		return fmt.Errorf("error answer does not match the Error schema: %w", err)
	}
	return nil
}

// Transport checks every exchange it carries with Checker and reports a
// mismatch with Fail (a test's Errorf). Base defaults to
// http.DefaultTransport.
type Transport struct {
	Checker *Checker
	Fail    func(format string, args ...any)
	Base    http.RoundTripper
}

// RoundTrip implements http.RoundTripper. It reads the whole answer to
// check it and hands the caller an identical copy.
func (t Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if rerr != nil {
		return resp, nil // a cut-off answer is the test's to judge
	}
	if err := t.Checker.Check(req, resp, body); err != nil {
		t.Fail("%s %s answered %d: API description mismatch: %v", req.Method, req.URL.RequestURI(), resp.StatusCode, err)
	}
	return resp, nil
}

// TB is the part of testing.TB Client needs.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Client is an HTTP client whose every exchange is checked against the
// embedded document; a mismatch fails t.
func Client(t TB) *http.Client {
	t.Helper()
	c, err := Default()
	if err != nil {
		t.Fatalf("the API description: %v", err)
	}
	return &http.Client{Transport: Transport{Checker: c, Fail: t.Errorf}}
}
