package profiler

import (
	"bytes"
	"context"
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
// retry: a failed delivery is logged and counted by the engine.
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
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("alert webhook: status %s", resp.Status)
	}
	return nil
}
