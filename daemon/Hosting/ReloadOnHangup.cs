using System.Runtime.InteropServices;
using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Hosting;

/// <summary>SIGHUP (systemctl reload) re-reads the config, exactly like the ReloadConfig admin call.</summary>
internal sealed class ReloadOnHangup(ConfigHolder config, SystemdStatus status, ILogger<ReloadOnHangup> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var signals = System.Threading.Channels.Channel.CreateBounded<bool>(new System.Threading.Channels.BoundedChannelOptions(1)
        {
            FullMode = System.Threading.Channels.BoundedChannelFullMode.DropWrite,
        });
        using var registration = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true;
            signals.Writer.TryWrite(true);
        });
        await foreach (var _ in signals.Reader.ReadAllAsync(stoppingToken))
        {
            try
            {
                status.Report("reloading configuration");
                var result = await config.ReloadAsync(stoppingToken);
                if (result.Applied)
                {
                    logger.LogInformation("Configuration reloaded: {Changes}", result.Changes.Count == 0 ? "no changes" : string.Join("; ", result.Changes));
                }
                else
                {
                    logger.LogError("Configuration reload rejected, the previous configuration stays in force:{NewLine}{Errors}", Environment.NewLine, string.Join(Environment.NewLine, result.Errors));
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError(e, "Configuration reload failed");
            }
            finally
            {
                status.Report(status.Summary());
            }
        }
    }
}
