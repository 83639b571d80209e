using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Polling;
using UnifiedLlm.Daemon.Providers;

namespace UnifiedLlm.Daemon.Routing.Peers;

/// <summary>
/// Reads every configured peer's status (<see cref="PeerStatus"/>) at its poll interval and keeps the last one. A read
/// that fails keeps the peer's last status (its models stay known, tried last, their breaker deciding) and says why.
/// </summary>
internal sealed partial class PeerDirectory : BackgroundService
{
    private readonly ConcurrentDictionary<string, PeerView> views = new(StringComparer.Ordinal);
    private readonly ConfigHolder config;
    private readonly TimeProvider time;
    private readonly ILogger<PeerDirectory> logger;
    private readonly HttpMessageInvoker http;

    public PeerDirectory(ConfigHolder config, TimeProvider time, ILogger<PeerDirectory> logger)
    {
        this.config = config;
        this.time = time;
        this.logger = logger;
        http = new HttpMessageInvoker(new SocketsHttpHandler
        {
            ConnectTimeout = config.Current.Router.Timeouts.Connect,
            AllowAutoRedirect = false,
            UseCookies = false,
        });
    }

    /// <summary>What is known of each configured peer, by name; a peer not read yet has no entry.</summary>
    public IReadOnlyList<PeerView> Views()
    {
        var peers = config.Current.Peers;
        return [.. views.Values.Where(v => peers.TryGetValue(v.Peer.Name, out var p) && p == v.Peer).OrderBy(v => v.Peer.Name, StringComparer.Ordinal)];
    }

    /// <summary>Reads every peer once now (also what the loop does at each peer's interval).</summary>
    public Task RefreshAsync(CancellationToken cancellationToken) =>
        Task.WhenAll(config.Current.Peers.Values.Select(p => ReadAsync(p, cancellationToken)));

    public override void Dispose()
    {
        http.Dispose();
        base.Dispose();
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        new PollSchedule(time, TimeSpan.FromSeconds(PeerConfig.DefaultPollSeconds)).RunAsync(
            () => config.Current.Peers.Values.ToDictionary(p => p.Name, p => p.PollInterval, StringComparer.Ordinal),
            (name, ct) => config.Current.Peers.TryGetValue(name, out var peer) ? ReadAsync(peer, ct) : Task.CompletedTask,
            name => views.TryRemove(name, out _),
            stoppingToken);

    private async Task ReadAsync(PeerConfig peer, CancellationToken cancellationToken)
    {
        var previous = views.TryGetValue(peer.Name, out var known) && known.Peer == peer ? known : null;
        string? error;
        PeerStatus? status = null;
        try
        {
            status = await FetchAsync(peer, cancellationToken);
            error = status.Version == PeerStatus.CurrentVersion
                ? null
                : $"it reports status version {status.Version}; this ullmd reads version {PeerStatus.CurrentVersion}";
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or JsonException or PeerStatusException or IOException)
        {
            error = e switch
            {
                HttpRequestException http => UpstreamHttp.Describe(http),
                OperationCanceledException => $"no answer within {peer.PollInterval.TotalSeconds:0.###} s",
                JsonException json => $"not a peer status: {json.Message}",
                _ => e.Message,
            };
        }

        var view = error is null
            ? new PeerView(peer, status, time.GetUtcNow(), null)
            : new PeerView(peer, previous?.Status, previous?.ReadAt, error);
        views[peer.Name] = view;
        if (previous is null || previous.Answering != view.Answering)
        {
            if (view.Answering)
            {
                LogAnswering(logger, peer.Name, view.Status!.Models.Count);
            }
            else
            {
                LogSilent(logger, peer.Name, error!);
            }
        }
    }

    private async Task<PeerStatus> FetchAsync(PeerConfig peer, CancellationToken cancellationToken)
    {
        var key = ApiKeyReader.Read(peer.ApiKey)
            ?? throw new PeerStatusException($"its API key ({peer.ApiKey}) is not available");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(peer.PollInterval < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : peer.PollInterval);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(peer.Root, PeerStatus.Path));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await http.SendAsync(request, timeout.Token);
        if (!response.IsSuccessStatusCode)
        {
            // The body may quote what was sent; a status says enough and carries no secret.
            throw new PeerStatusException($"{PeerStatus.Path} answered {(int)response.StatusCode}");
        }

        var status = await response.Content.ReadFromJsonAsync(PeerStatus.Json, timeout.Token);
        // Deserializing leaves a missing list null whatever the record says.
        return status is { Models: not null, Gpus: not null } && status.Models.All(m => m is { Name: not null, Aliases: not null })
            ? status
            : throw new PeerStatusException("its status lacks the models or gpus list, or a model's name or aliases");
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "peer {Peer} answers: {Models} model(s)")]
    private static partial void LogAnswering(ILogger logger, string peer, int models);

    [LoggerMessage(Level = LogLevel.Warning, Message = "peer {Peer} does not answer its status read: {Reason}; its models are tried last")]
    private static partial void LogSilent(ILogger logger, string peer, string reason);

    private sealed class PeerStatusException(string message) : Exception(message);
}

/// <summary>
/// One peer as last read: its last good status (null before the first), when that was read, and why the latest read
/// failed (null when it answered).
/// </summary>
internal sealed record PeerView(PeerConfig Peer, PeerStatus? Status, DateTimeOffset? ReadAt, string? Error)
{
    public bool Answering => Error is null && Status is not null;
}
