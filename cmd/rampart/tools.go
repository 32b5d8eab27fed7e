package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"rampart/gamedata"
	"rampart/loadtest"
)

// loadtest runs the load generator.
func loadtestCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return loadtest.Run(ctx, args, stdout, stderr)
}

const gamedataUsage = `usage: rampart gamedata <build|check> [--src gamedata/src] [--out gamedata/bundle.json]

  build   validate the sources and write the compiled bundle (only if it changed)
  check   fail if the compiled bundle is stale or the sources are invalid
`

// gamedataCmd runs the game data tools.
func gamedataCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "build" && args[0] != "check") {
		fmt.Fprint(stderr, gamedataUsage)
		return errors.New("gamedata: want build or check")
	}
	fs := flag.NewFlagSet("gamedata "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	src := fs.String("src", "gamedata/src", "directory of the designers' source files")
	out := fs.String("out", "gamedata/bundle.json", "compiled bundle")
	if help, err := parseFlags(fs, args[1:]); help || err != nil {
		return err
	}
	if args[0] == "check" {
		if err := gamedata.Check(*src, *out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s is up to date with %s\n", *out, *src)
		return nil
	}
	version, changed, err := gamedata.WriteBundle(*src, *out)
	if err != nil {
		return err
	}
	if changed {
		fmt.Fprintf(stdout, "wrote %s, version %s\n", *out, version)
	} else {
		fmt.Fprintf(stdout, "%s unchanged, version %s\n", *out, version)
	}
	return nil
}
