package profiler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Notifier delivers one alert transition (an Event as JSON) somewhere
// outside the process. The server wiring may route it through a
// bookkeeper, which then owns retries and accounting.
type Notifier interface {
	Notify(ctx context.Context, body []byte) error
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(ctx context.Context, body []byte) error

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, body []byte) error { return f(ctx, body) }

// Webhook POSTs each transition as application/json to a URL. It does not
// retry: a failure is a *WebhookStatusError or the transport's error, and
// WebhookRetryable tells which are worth another try (the server sends
// through a bookkeeper that retries those).
type Webhook struct {
	client *http.Client
	url    string
}

var _ Notifier = (*Webhook)(nil)

// NewWebhook returns a Notifier posting to url with client (nil:
// http.DefaultClient).
func NewWebhook(client *http.Client, url string) *Webhook {
	if client == nil {
		client = http.DefaultClient
	}
	return &Webhook{client: client, url: url}
}

// Notify posts body and fails on any status other than 2xx.
func (w *Webhook) Notify(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("alert webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("alert webhook: %w", err)
	}
	// A body closed unread takes its connection with it, and every alert
	// would dial (and TLS-handshake) anew: read up to 64 KiB of it first.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return &WebhookStatusError{Status: resp.StatusCode}
	}
	return nil
}

// WebhookStatusError is a webhook's answer other than 2xx.
type WebhookStatusError struct{ Status int }

func (e *WebhookStatusError) Error() string {
	return fmt.Sprintf("alert webhook: status %d %s", e.Status, http.StatusText(e.Status))
}

// WebhookRetryable reports whether a failed Notify is worth another try:
// 5xx and 429 answers and transport failures (timeouts, refused or broken
// connections) are; other answers, and a cancelled context, are final.
func WebhookRetryable(err error) bool {
	var e *WebhookStatusError
	if errors.As(err, &e) {
		return e.Status >= 500 || e.Status == http.StatusTooManyRequests
	}
	return err != nil && !errors.Is(err, context.Canceled)
}
