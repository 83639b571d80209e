using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Hosting;

/// <summary>
/// Sets the unix sockets' owner and mode once Kestrel has bound them and before the host reports READY=1: the OpenAI
/// socket to its configured mode, the admin socket to root:admin_group 0660. The admin socket's directory is created
/// 0755 and the socket is bound with the process umask, so nobody but root can connect in between.
/// </summary>
internal sealed class SocketPermissions(ConfigHolder config, ILogger<SocketPermissions> logger) : IHostedLifecycleService
{
    public Task StartedAsync(CancellationToken cancellationToken)
    {
        var server = config.Current.Server;
        File.SetUnixFileMode(server.OpenAiSocket, server.OpenAiSocketMode);
        File.SetUnixFileMode(server.AdminSocket, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
        var gid = Native.GroupId(server.AdminGroup);
        if (gid is { } g)
        {
            Native.ChangeOwner(server.AdminSocket, 0, g);
        }
        else
        {
            logger.LogWarning("Admin group {Group} does not exist; only root can use {Socket}", server.AdminGroup, server.AdminSocket);
        }

        return Task.CompletedTask;
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
