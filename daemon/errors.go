package daemon

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/custos-reserve/custos/reserve"
)

// grpcCodes is the one mapping from domain error codes to gRPC codes.
var grpcCodes = map[reserve.Code]codes.Code{
	reserve.CodeInvalid:            codes.InvalidArgument,
	reserve.CodeNotFound:           codes.NotFound,
	reserve.CodeConflict:           codes.AlreadyExists,
	reserve.CodeDenied:             codes.PermissionDenied,
	reserve.CodeUnavailable:        codes.Unavailable,
	reserve.CodeFailedPrecondition: codes.FailedPrecondition,
}

// toStatus turns a domain error into a gRPC status. Internal errors reach
// the caller as a generic message; their details go to the log.
func toStatus(ctx context.Context, log *slog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	code, ok := grpcCodes[reserve.CodeOf(err)]
	if !ok {
		log.ErrorContext(ctx, "internal error", "method", method, "err", err)
		return status.Error(codes.Internal, "internal error; see the daemon log")
	}
	return status.Error(code, err.Error())
}
