// Command apiversion prints the version of the daemon at DOCKER_HOST and
// the API version whalewatch's Docker SDK negotiates with it; the test
// script names each daemon it tests against with it.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/events"
)

func main() {
	c, err := client.New(client.FromEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "apiversion:", err)
		os.Exit(1)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := c.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "apiversion:", err)
		os.Exit(1)
	}
	engine := "Docker"
	if events.EngineOf(v) == events.EnginePodman {
		engine = "Podman"
	}
	fmt.Printf("%s %s (API %s); the SDK negotiated API %s\n", engine, v.Version, v.APIVersion, c.ClientVersion())
}
