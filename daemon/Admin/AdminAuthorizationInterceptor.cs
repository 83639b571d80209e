using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.AspNetCore.Connections.Features;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Hosting;
using UnifiedLlm.Daemon.Unix;

namespace UnifiedLlm.Daemon.Admin;

/// <summary>
/// Every admin call must come from root or a member of server.admin_group, as the kernel reports the peer (SO_PEERCRED).
/// The socket's file mode already keeps others out; this check holds even if the mode is loosened by hand.
/// </summary>
internal sealed class AdminAuthorizationInterceptor(ConfigHolder config, ILogger<AdminAuthorizationInterceptor> logger) : Interceptor
{
    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context);
        return continuation(request, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context);
        return continuation(request, responseStream, context);
    }

    private void Authorize(ServerCallContext context)
    {
        var socket = context.GetHttpContext().Features.Get<IConnectionSocketFeature>()?.Socket;
        if (socket is null)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, "admin calls are only accepted on the admin unix socket"));
        }

        var peer = PeerCredentials.Read(socket);
        var group = config.Current.Server.AdminGroup;
        if (!peer.IsRootOrMemberOf(Native.GroupId(group)))
        {
            logger.LogWarning("Admin call {Method} refused for uid {Uid} (pid {Pid}): not root and not in group {Group}", context.Method, peer.Uid, peer.Pid, group);
            throw new RpcException(new Status(
                StatusCode.PermissionDenied,
                $"uid {peer.Uid} may not use the admin API: run as root or join the '{group}' group (usermod -aG {group} USER, then log in again)"));
        }
    }
}
