// Command fairlead is the lead-management and consent hub: one binary that
// serves the API and UI, runs background jobs and offers operator commands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/fairlead/fairlead/internal/app"
	"github.com/fairlead/fairlead/internal/memtune"
)

func main() {
	memtune.Apply()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		if code, ok := app.ExitCode(err); ok {
			os.Exit(code)
		}
		fmt.Fprintln(os.Stderr, "fairlead:", err)
		os.Exit(1)
	}
}
