using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Hosting;
using UnifiedLlm.Daemon.Routing.Peers;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// <c>GET /ullm/peer/v1/status</c>: what this host reports to the ullmd hosts that list it as a peer
/// (<see cref="PeerStatus"/>). Read-only; on TCP it needs an API key, as /metrics does.
/// </summary>
internal static class PeerStatusEndpoint
{
    public static async Task WriteAsync(HttpContext context, ClientAuthenticator authenticator, UllmConfig config, Scheduler scheduler, GpuMonitor gpus)
    {
        if (!await TcpKeyCheck.PassesAsync(context, authenticator, $"/{PeerStatus.Path} on the TCP listener needs an API key (any valid key): set the peer's api_key_credential, api_key_file or api_key_env to a key made here with ullmctl keys create"))
        {
            return;
        }

        var ready = scheduler.ReadyModels();
        var queues = scheduler.QueueDepths();
        var models = config.Models.Values.OrderBy(m => m.Name, StringComparer.Ordinal)
            .Select(m => new PeerModel(m.Name, m.Aliases, m.BackendKey, ready.Contains(m.Name), queues.GetValueOrDefault(m.Name)))
            .ToList();
        var devices = gpus.Current.Devices.Where(d => config.Gpu.Allowed.Count == 0 || config.Gpu.Allowed.Contains(d.Index))
            .Select(d => new PeerGpu(d.Index, d.TotalBytes, d.FreeBytes)).ToList();
        var status = new PeerStatus(PeerStatus.CurrentVersion, models, devices, await HostMemory.AvailableBytesAsync(context.RequestAborted));
        await context.Response.WriteAsJsonAsync(status, PeerStatus.Json, cancellationToken: context.RequestAborted);
    }
}

/// <summary>The rule for what serves more than the OpenAI API on TCP (/metrics, the peer status): any valid key, and none on the unix socket.</summary>
internal static class TcpKeyCheck
{
    /// <summary>Whether the request may go on; if not, its error object is written (<paramref name="missing"/> when it sent no key).</summary>
    public static async Task<bool> PassesAsync(HttpContext context, ClientAuthenticator authenticator, string missing)
    {
        if (ListenerNames.Of(context) != ListenerNames.OpenAiTcp)
        {
            return true;
        }

        var noKey = new GatewayException(401, missing, code: "missing_api_key");
        try
        {
            var client = await authenticator.AuthenticateAsync(context);
            if (client.Key is null)
            {
                throw noKey;
            }

            return true;
        }
        catch (GatewayException e)
        {
            var error = e.Code == "missing_api_key" ? noKey : e;
            await OpenAiErrors.WriteAsync(context, error, OpenAiErrors.Body(error));
            return false;
        }
    }
}
