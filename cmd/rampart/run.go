package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

const usage = `usage: rampart <command> [flags]

commands:
  serve      run the game server (rampart serve -h for flags)
  loadtest   drive a server with simulated players
  gamedata   game data tools: rampart gamedata build
  replay     rebuild a player from a checkpoint and the journal, verifying every record
`

// run is the whole program: main only adds the process's signals,
// arguments, environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "loadtest":
		return loadtestCmd(ctx, args[1:], stdout, stderr)
	case "gamedata":
		return gamedataCmd(args[1:], stdout, stderr)
	case "replay":
		return replayCmd(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// parseFlags parses fs, treating -h as success.
func parseFlags(fs *flag.FlagSet, args []string) (help bool, err error) {
	err = fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return true, nil
	}
	return false, err
}
