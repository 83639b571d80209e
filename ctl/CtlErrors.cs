using System.Net.Sockets;
using System.Text.Json.Nodes;
using Grpc.Core;
using UnifiedLlm.Ctl.Output;
using UnifiedLlm.Printing;

namespace UnifiedLlm.Ctl;

/// <summary>
/// ullmctl's exit codes, and the one place a failure is reported: one line on stderr starting with <c>ullmctl: </c>
/// (control characters escaped), and with <c>--json</c> also <c>{"error":{"code":…,"exit":…,"message":…}}</c> on
/// stdout, so that a pipe into jq sees the error. <c>code</c> is the gRPC status name (NOT_FOUND, INVALID_ARGUMENT,
/// UNAVAILABLE, …) of the failure.
/// </summary>
internal static class CtlErrors
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int Usage = 2;
    public const int DaemonUnreachable = 3;
    public const int PermissionDenied = 4;
    public const int NotFound = 5;

    /// <summary>ullmd answered UNIMPLEMENTED: it has no such call, being older than this ullmctl.</summary>
    public const int NotImplementedByDaemon = 6;

    /// <summary><c>doctor</c> found warnings but no errors (errors exit <see cref="Failed"/>).</summary>
    public const int Warnings = UnifiedLlm.Admin.V1.DoctorResponse.WarningsExitCode;

    public static int Report(Exception exception, string socket, bool json)
    {
        var (code, status, message) = Describe(exception, socket);
        return Fail(json, code, status, message);
    }

    /// <summary>Reports a failure ullmctl found itself (or a daemon's answer it already described) and returns <paramref name="exit"/>.</summary>
    public static int Fail(bool json, int exit, StatusCode status, string message)
    {
        Console.Error.WriteLine($"ullmctl: {TerminalText.Escape(message)}");
        if (json)
        {
            var error = new JsonObject { ["code"] = StatusName(status), ["exit"] = exit, ["message"] = message };
            Console.Out.WriteLine(new JsonObject { ["error"] = error }.ToJsonString());
        }

        return exit;
    }

    /// <summary>The exit code for a daemon's status: what <see cref="Report"/> would return for it.</summary>
    public static int ExitCode(StatusCode status) => status switch
    {
        StatusCode.OK => Ok,
        StatusCode.PermissionDenied => PermissionDenied,
        StatusCode.NotFound => NotFound,
        StatusCode.Unimplemented => NotImplementedByDaemon,
        StatusCode.InvalidArgument => Usage,
        _ => Failed,
    };

    /// <summary>Canonical gRPC status name: NOT_FOUND, INVALID_ARGUMENT, …</summary>
    public static string StatusName(StatusCode status) => status switch
    {
        StatusCode.OK => "OK",
        StatusCode.Cancelled => "CANCELLED",
        StatusCode.Unknown => "UNKNOWN",
        StatusCode.InvalidArgument => "INVALID_ARGUMENT",
        StatusCode.DeadlineExceeded => "DEADLINE_EXCEEDED",
        StatusCode.NotFound => "NOT_FOUND",
        StatusCode.AlreadyExists => "ALREADY_EXISTS",
        StatusCode.PermissionDenied => "PERMISSION_DENIED",
        StatusCode.Unauthenticated => "UNAUTHENTICATED",
        StatusCode.ResourceExhausted => "RESOURCE_EXHAUSTED",
        StatusCode.FailedPrecondition => "FAILED_PRECONDITION",
        StatusCode.Aborted => "ABORTED",
        StatusCode.OutOfRange => "OUT_OF_RANGE",
        StatusCode.Unimplemented => "UNIMPLEMENTED",
        StatusCode.Internal => "INTERNAL",
        StatusCode.Unavailable => "UNAVAILABLE",
        StatusCode.DataLoss => "DATA_LOSS",
        _ => status.ToString().ToUpperInvariant(),
    };

    /// <summary>The exit code, status and message <see cref="Report"/> gives for a failure.</summary>
    public static (int Code, StatusCode Status, string Message) Describe(Exception exception, string socket)
    {
        if (exception is RpcException rpc)
        {
            if (rpc.StatusCode == StatusCode.Unavailable && FindSocketError(rpc) is { } socketError)
            {
                return Unreachable(socketError, socket);
            }

            var message = rpc.StatusCode switch
            {
                StatusCode.PermissionDenied or StatusCode.NotFound or StatusCode.InvalidArgument => rpc.Status.Detail,
                StatusCode.Unimplemented => NotImplemented(rpc.Status),
                StatusCode.Cancelled => "cancelled",
                _ => $"{rpc.StatusCode}: {rpc.Status.Detail}",
            };
            return (ExitCode(rpc.StatusCode), rpc.StatusCode, message);
        }

        if (exception is HttpRequestException { InnerException: SocketException inner })
        {
            return Unreachable(inner, socket);
        }

        return (Failed, StatusCode.Unknown, exception.Message);
    }

    /// <summary>What ullmctl and its MCP tools say when ullmd has no such call (gRPC UNIMPLEMENTED, with its detail if any).</summary>
    public static string NotImplemented(Status status) =>
        "ullmd does not implement this call; it is older than this ullmctl, so use the ullmctl installed with it"
        + (status.Detail.Length > 0 ? $" ({status.Detail})" : "");

    private static SocketException? FindSocketError(Exception e)
    {
        for (Exception? current = e is RpcException r ? r.Status.DebugException : e; current is not null; current = current.InnerException)
        {
            if (current is SocketException s)
            {
                return s;
            }
        }

        return null;
    }

    private static (int, StatusCode, string) Unreachable(SocketException e, string socket) => e.SocketErrorCode switch
    {
        SocketError.AccessDenied => (PermissionDenied, StatusCode.PermissionDenied,
            $"permission denied on {socket}: run as root or as a member of ullmd's admin group (server.admin_group, default 'ullm-admin')"),
        SocketError.AddressNotAvailable or SocketError.ConnectionRefused => (DaemonUnreachable, StatusCode.Unavailable,
            $"ullmd is not running (nothing listens on {socket}); start it with 'systemctl start unified-llm' or 'ullmd --config FILE'"),
        _ => (DaemonUnreachable, StatusCode.Unavailable, $"cannot connect to ullmd on {socket}: {e.Message}"),
    };
}
