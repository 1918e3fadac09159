// Package remote fetches what a devfile references outside the project: files over http(s)
// (parent uris, manifest uris, Dockerfile uris), stacks from a devfile registry (parents and
// dockerfile.devfileRegistry) and files from git repositories (dockerfile.git). Every fetch takes
// a context, is bounded by a per-request timeout and a size limit, retries transient failures
// with backoff, and leaves a copy in a cache directory that Offline mode reads instead of the
// network. Nothing is written outside the cache directory; git clones go to a temporary
// directory that is removed before the call returns.
package remote

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Defaults of Options.
const (
	DefaultTimeout = 10 * time.Second
	DefaultMaxSize = 16 << 20 // bytes
	DefaultRetries = 2
	DefaultBackoff = 250 * time.Millisecond
	// PublicRegistry is the registry odo v3 uses when none is configured.
	PublicRegistry = "https://registry.devfile.io"
)

// Options configures a Client. Zero values take the defaults above.
type Options struct {
	// Timeout bounds one request (connect, headers and body).
	Timeout time.Duration
	// MaxSize bounds one response body, in bytes.
	MaxSize int64
	// Retries is how many times a transient failure (connection refused or reset, HTTP 429 or
	// 5xx) is retried; timeouts are not retried, so one reference costs at most about
	// Timeout + Retries*backoff. A negative value means no retries.
	Retries int
	// Backoff is the first wait between retries; it doubles each time.
	Backoff time.Duration
	// CacheDir holds cached copies; "" disables the cache (and makes Offline fail every fetch).
	CacheDir string
	// Offline answers only from CacheDir and never touches the network.
	Offline bool
	// Transport is the HTTP transport (nil: a clone of http.DefaultTransport).
	Transport http.RoundTripper
	// Logger receives debug messages; nil discards them.
	Logger *slog.Logger
}

// Client fetches remote references. It is safe for concurrent use.
type Client struct {
	opts Options
	http *http.Client
}

// New returns a Client with opts, defaults filled in.
func New(opts Options) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if opts.Retries == 0 {
		opts.Retries = DefaultRetries
	}
	if opts.Retries < 0 {
		opts.Retries = 0
	}
	if opts.Backoff <= 0 {
		opts.Backoff = DefaultBackoff
	}
	if opts.Transport == nil {
		opts.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Client{opts: opts, http: &http.Client{Transport: opts.Transport}}
}

// Offline reports whether the client answers only from its cache.
func (c *Client) Offline() bool { return c.opts.Offline }

// CacheDir returns the cache directory ("" when there is none).
func (c *Client) CacheDir() string { return c.opts.CacheDir }

// Error is a failed fetch. URL is what was fetched; What names the reference for the user
// ("registry https://registry.devfile.io", "parent uri"); Err is the cause.
type Error struct {
	What string
	URL  string
	Err  error
	// Offline is set when the failure is a cache miss in offline mode.
	Offline bool
}

func (e *Error) Error() string {
	if e.Offline {
		return fmt.Sprintf("%s: %s is not in the cache (%v); run once without --offline to fill it", Redact(e.What), e.relURL(), e.Err)
	}
	hint := "check the address and the network, or pass --offline to use what an earlier run cached, or use a local copy"
	var se *SizeError
	var st *StatusError
	switch {
	case errors.Is(e.Err, ErrNoCache):
		hint = "devtool keeps fetched stacks and Dockerfiles in its cache directory; set DEVTOOL_CACHE_DIR or HOME"
	case errors.As(e.Err, &se):
		hint = "the reference must point at a single file; check the address"
	case errors.As(e.Err, &st) && st.Code == http.StatusNotFound:
		hint = "check the address, id and version"
	}
	return fmt.Sprintf("%s: fetching %s: %v; %s", Redact(e.What), e.relURL(), Redact(e.Err.Error()), hint)
}

// Redact hides the password or token of URLs in s (https://user:secret@host → https://user:xxxxx@host),
// so messages never print a credential written into a registry, git or uri reference.
func Redact(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i+3])
		s = s[i+3:]
		end := strings.IndexAny(s, "/ \t\n\"'")
		if end < 0 {
			end = len(s)
		}
		if at := strings.LastIndex(s[:end], "@"); at >= 0 {
			user, _, hasPass := strings.Cut(s[:at], ":")
			if hasPass {
				b.WriteString(user + ":xxxxx@")
			} else {
				b.WriteString("xxxxx@")
			}
			s = s[at+1:]
		}
	}
}

func (e *Error) Unwrap() error { return e.Err }

// relURL is the URL, or only its path when What already names the base ("devfile registry
// https://r.example, …: fetching /v2index"), so a message names each URL once.
func (e *Error) relURL() string {
	for _, f := range strings.Fields(e.What) {
		f = strings.TrimSuffix(f, ",")
		if IsHTTP(f) && strings.HasPrefix(e.URL, f+"/") {
			return strings.TrimPrefix(e.URL, f)
		}
	}
	return Redact(e.URL)
}

// ErrNoCache is returned for a fetch that needs the cache directory (registry stacks, fetched
// Dockerfiles, offline reads) when Options.CacheDir is "".
var ErrNoCache = errors.New("no cache directory")

// SizeError is a response larger than Options.MaxSize.
type SizeError struct{ Limit int64 }

func (e *SizeError) Error() string {
	return fmt.Sprintf("response larger than the %d-byte limit", e.Limit)
}

// StatusError is a non-2xx HTTP response.
type StatusError struct {
	Code   int
	Status string
}

func (e *StatusError) Error() string { return "HTTP " + e.Status }

// TimeoutError is a request that got no complete answer within Options.Timeout.
type TimeoutError struct{ Timeout time.Duration }

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("no complete response within %s", e.Timeout)
}

// Unwrap makes a TimeoutError a context.DeadlineExceeded for errors.Is.
func (e *TimeoutError) Unwrap() error { return context.DeadlineExceeded }

// Get fetches url (http or https) and returns its body, at most MaxSize bytes. Online, the body
// is also cached under key (when key is not ""); offline, only the cache under key is read.
// Errors: *Error wrapping *StatusError, *SizeError, *TimeoutError or the transport error; a
// cancelled ctx returns ctx's error.
func (c *Client) Get(ctx context.Context, what, url, key string) ([]byte, error) {
	if c.opts.Offline {
		b, err := c.readCache(key)
		if err != nil {
			return nil, &Error{What: what, URL: url, Err: err, Offline: true}
		}
		return b, nil
	}
	b, err := c.get(ctx, url)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &Error{What: what, URL: url, Err: err}
	}
	if key != "" {
		if err := c.writeCache(key, b); err != nil {
			c.opts.Logger.Debug("cannot write cache", "key", key, "err", err)
		}
	}
	return b, nil
}

// get is one GET with retries.
func (c *Client) get(ctx context.Context, url string) ([]byte, error) {
	wait := c.opts.Backoff
	for attempt := 0; ; attempt++ {
		b, err := c.getOnce(ctx, url)
		if err == nil || attempt >= c.opts.Retries || !transient(err) || ctx.Err() != nil {
			return b, err
		}
		c.opts.Logger.Debug("retrying", "url", url, "err", err, "wait", wait)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (c *Client) getOnce(ctx context.Context, url string) ([]byte, error) {
	rctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() == nil && rctx.Err() != nil {
			return nil, &TimeoutError{c.opts.Timeout}
		}
		return nil, unwrapURLError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &StatusError{Code: resp.StatusCode, Status: resp.Status}
	}
	if resp.ContentLength > c.opts.MaxSize {
		return nil, &SizeError{c.opts.MaxSize}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.opts.MaxSize+1))
	if err != nil {
		if ctx.Err() == nil && rctx.Err() != nil {
			return nil, &TimeoutError{c.opts.Timeout}
		}
		return nil, err
	}
	if int64(len(b)) > c.opts.MaxSize {
		return nil, &SizeError{c.opts.MaxSize}
	}
	return b, nil
}

// unwrapURLError drops net/http's `Get "url": ` prefix: Error already names the URL.
func unwrapURLError(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && strings.HasPrefix(err.Error(), "Get ") {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// transient reports whether a retry may help: refused or reset connections and 429/5xx.
func transient(err error) bool {
	var st *StatusError
	if errors.As(err, &st) {
		return st.Code == http.StatusTooManyRequests || st.Code >= 500
	}
	var te *TimeoutError
	var se *SizeError
	if errors.As(err, &te) || errors.As(err, &se) {
		return false
	}
	var ne *net.OpError
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF)
}

// cachePath maps a key to a file under the cache directory.
func (c *Client) cachePath(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(c.opts.CacheDir, "files", hex.EncodeToString(sum[:16]))
}

func (c *Client) readCache(key string) ([]byte, error) {
	if c.opts.CacheDir == "" || key == "" {
		return nil, ErrNoCache
	}
	b, err := os.ReadFile(c.cachePath(key))
	if errors.Is(err, os.ErrNotExist) {
		return nil, errors.New("never fetched")
	}
	return b, err
}

func (c *Client) writeCache(key string, b []byte) error {
	if c.opts.CacheDir == "" {
		return nil
	}
	return writeAtomic(c.cachePath(key), b)
}

// Store writes content into the cache directory under a name derived from its SHA-256 and
// returns the file's absolute path (…/content/<sha256>/<name>), so equal contents share a file
// and a changed content gets a new path. Used for fetched Dockerfiles, which builders read by
// path. Errors: no cache directory, or the write failed.
func (c *Client) Store(content []byte, name string) (string, error) {
	if c.opts.CacheDir == "" {
		return "", ErrNoCache
	}
	sum := sha256.Sum256(content)
	p := filepath.Join(c.opts.CacheDir, "content", hex.EncodeToString(sum[:]), filepath.Base(name))
	if b, err := os.ReadFile(p); err == nil && string(b) == string(content) {
		return p, nil
	}
	if err := writeAtomic(p, content); err != nil {
		return "", err
	}
	return p, nil
}

// writeAtomic writes b to p through a temporary file in the same directory and a rename, so a
// concurrent reader sees the old or the new content, never a part.
func writeAtomic(p string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := f.Write(b)
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), p)
	}
	if werr != nil {
		os.Remove(f.Name())
	}
	return werr
}

// IsHTTP reports whether s is an http or https URL.
func IsHTTP(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}
