package main

import (
	"context"
	"errors"
	"io"
)

// loadtest runs the load generator.
func loadtest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("loadtest: not wired yet")
}

// gamedataCmd runs the game data tools.
func gamedataCmd(args []string, stdout, stderr io.Writer) error {
	return errors.New("gamedata: not wired yet")
}
