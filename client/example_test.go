package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"rampart/client"
)

// A bot: sign in with its device id, collect, upgrade the town hall and
// wait for the upgrade to finish.
func Example_bot() {
	ctx := context.Background()
	c, err := client.New("http://127.0.0.1:8080", client.WithTransport(client.WebSocket))
	if err != nil {
		log.Fatal(err)
	}
	s, err := c.SignInDevice(ctx, "bot-0123456789abcdef", true)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Logout(ctx)

	res, err := s.Do(ctx,
		client.Act("collect", `{}`),
		client.Act("upgrade_building", `{"building_id":"b1"}`))
	if err != nil {
		log.Fatal(err) // no answer, or refused: the batch's seqs may or may not be applied
	}
	for _, r := range res {
		if !r.OK {
			fmt.Println("rule said no:", r.Code) // e.g. nothing_to_collect
		}
	}
	for ev := range s.Events() {
		if ev.Kind == "upgrade_done" {
			fmt.Println("done:", string(ev.Raw))
			return
		}
	}
}

// Errors are *client.Error values; errors.Is matches their codes.
func ExampleError() {
	ctx := context.Background()
	c, _ := client.New("http://127.0.0.1:8080")
	_, err := c.SignInEmail(ctx, "ann@example.com", "hunter22", false)
	var e *client.Error
	switch {
	case errors.Is(err, client.ErrBadCredentials):
		fmt.Println("wrong password")
	case errors.Is(err, client.ErrRateLimited) && errors.As(err, &e):
		fmt.Println("locked; try again in", e.RetryAfter.Round(time.Second))
	case errors.Is(err, client.ErrNotFound):
		fmt.Println("no such account")
	}
}

// A load generator: many sessions on one Client, HTTP through the raw
// pool, few retries, results appended to a reused slice.
func ExampleWithRawHTTP() {
	ctx := context.Background()
	c, err := client.New("http://127.0.0.1:8080", client.WithRawHTTP(64), client.WithRetries(2))
	if err != nil {
		log.Fatal(err)
	}
	s, err := c.DevLogin(ctx, "load-1")
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ping := client.Act("ping", "")
	res := make([]client.Result, 0, 8)
	for range 1000 {
		if res, err = s.DoAppend(ctx, res[:0], ping); err != nil {
			log.Print(err)
		}
	}
}
