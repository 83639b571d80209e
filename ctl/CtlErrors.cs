using System.Net.Sockets;
using Grpc.Core;

namespace UnifiedLlm.Ctl;

/// <summary>ullmctl's exit codes, and the one-line message for each way a call can fail.</summary>
internal static class CtlErrors
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int Usage = 2;
    public const int DaemonUnreachable = 3;
    public const int PermissionDenied = 4;
    public const int NotFound = 5;
    public const int Unavailable = 6;

    public static int Report(Exception exception, string socket)
    {
        var (code, message) = Describe(exception, socket);
        Console.Error.WriteLine($"ullmctl: {message}");
        return code;
    }

    private static (int Code, string Message) Describe(Exception exception, string socket)
    {
        if (exception is RpcException rpc)
        {
            if (rpc.StatusCode == StatusCode.Unavailable && FindSocketError(rpc) is { } socketError)
            {
                return Unreachable(socketError, socket);
            }

            return rpc.StatusCode switch
            {
                StatusCode.PermissionDenied => (PermissionDenied, rpc.Status.Detail),
                StatusCode.NotFound => (NotFound, rpc.Status.Detail),
                StatusCode.Unimplemented => (Unavailable, "not available in this ullmd: " + rpc.Status.Detail),
                StatusCode.InvalidArgument => (Usage, rpc.Status.Detail),
                StatusCode.Cancelled => (Failed, "cancelled"),
                _ => (Failed, $"{rpc.StatusCode}: {rpc.Status.Detail}"),
            };
        }

        if (exception is HttpRequestException { InnerException: SocketException inner })
        {
            return Unreachable(inner, socket);
        }

        return (Failed, exception.Message);
    }

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

    private static (int, string) Unreachable(SocketException e, string socket) => e.SocketErrorCode switch
    {
        SocketError.AccessDenied => (PermissionDenied,
            $"permission denied on {socket}: run as root or as a member of ullmd's admin group (server.admin_group, default 'ullm-admin')"),
        SocketError.AddressNotAvailable or SocketError.ConnectionRefused => (DaemonUnreachable,
            $"ullmd is not running (nothing listens on {socket}); start it with 'systemctl start unified-llm' or 'ullmd --config FILE'"),
        _ => (DaemonUnreachable, $"cannot connect to ullmd on {socket}: {e.Message}"),
    };
}
