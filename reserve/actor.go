package reserve

import "context"

// Actor is who caused a change: the identity behind a request (the name,
// role and serial number of its client certificate) or a component of the
// daemon acting on its own ("custosd", role "chain", no serial). The store
// records it in every audit leaf, so it must never carry a secret.
type Actor struct {
	Name   string
	Role   string
	Serial string
}

type actorKey struct{}

// WithActor returns a copy of ctx carrying a. The daemon's authentication
// interceptor sets it for every request; background work sets its own.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor WithActor attached to ctx; ok is false when
// none was, and the store then records an unknown actor.
func ActorFrom(ctx context.Context) (a Actor, ok bool) {
	a, ok = ctx.Value(actorKey{}).(Actor)
	return a, ok
}
