using System.Collections.Immutable;
using UnifiedLlm.Daemon.Events;

namespace UnifiedLlm.Daemon.Config;

/// <summary>
/// The config in force. A reload re-reads the file and swaps the whole config at once, or keeps the old one and returns
/// every error. Listener settings cannot change under a running server, so a reload that changes them is rejected.
/// </summary>
internal sealed class ConfigHolder(UllmConfig initial, EventHub events, TimeProvider time) : IDisposable
{
    private readonly SemaphoreSlim reloadGate = new(1, 1);
    private ImmutableArray<Action<UllmConfig, UllmConfig>> replacedHandlers = [];
    private ImmutableArray<Func<UllmConfig, UllmConfig, Task>> replacedAsyncHandlers = [];
    private volatile Snapshot current = new(initial, time.GetUtcNow());

    public UllmConfig Current => current.Config;

    public DateTimeOffset LoadedAt => current.LoadedAt;

    public async Task<ReloadResult> ReloadAsync(CancellationToken cancellationToken)
    {
        await reloadGate.WaitAsync(cancellationToken);
        try
        {
            var old = current.Config;
            UllmConfig next;
            try
            {
                next = await ConfigLoader.LoadFileAsync(old.SourcePath, cancellationToken);
            }
            catch (ConfigException e)
            {
                events.Publish(new DaemonEvent(time.GetUtcNow(), "config", $"reload rejected: {e.Errors.Count} error(s); the previous config stays in force"));
                return new ReloadResult(false, e.Errors, []);
            }

            var listenerErrors = ListenerChanges(old.Server, next.Server, old.SourcePath);
            if (listenerErrors.Count > 0)
            {
                events.Publish(new DaemonEvent(time.GetUtcNow(), "config", "reload rejected: listener settings changed; restart ullmd to apply them"));
                return new ReloadResult(false, listenerErrors, []);
            }

            var changes = ConfigDiff.Describe(old, next);
            current = new Snapshot(next, time.GetUtcNow());
            events.Publish(new DaemonEvent(time.GetUtcNow(), "config", changes.Count == 0 ? "reloaded: no changes" : "reloaded: " + string.Join("; ", changes)));
            foreach (var handler in replacedHandlers)
            {
                handler(old, next);
            }

            foreach (var handler in replacedAsyncHandlers)
            {
                await handler(old, next);
            }

            return new ReloadResult(true, [], changes);
        }
        finally
        {
            reloadGate.Release();
        }
    }

    /// <summary>
    /// Calls <paramref name="handler"/> with the old and the new config after each applied reload, in the reload's own
    /// call and under its gate: a handler reacts quickly (it starts slow work, it does not wait for it) and does not throw.
    /// </summary>
    public void OnReplaced(Action<UllmConfig, UllmConfig> handler) => ImmutableInterlocked.Update(ref replacedHandlers, h => h.Add(handler));

    /// <summary>
    /// As <see cref="OnReplaced(Action{UllmConfig, UllmConfig})"/>, for a handler that takes the new config in on a task
    /// of its own (the scheduler's loop): the reload returns once that task is done, so whatever follows the reload sees
    /// it applied. The handler does not throw.
    /// </summary>
    public void OnReplacedAsync(Func<UllmConfig, UllmConfig, Task> handler) => ImmutableInterlocked.Update(ref replacedAsyncHandlers, h => h.Add(handler));

    public void Dispose() => reloadGate.Dispose();

    /// <summary>
    /// The [server] keys a reload may not change, each with the value compared: the listeners, the data directory and how
    /// backends are supervised. The certificate files are re-read on every reload; which files, and whether there is TLS
    /// at all, is the listener's.
    /// </summary>
    private static readonly (string Key, Func<ServerConfig, object?> Value)[] RestartOnly =
    [
        ("openai_socket", s => s.OpenAiSocket),
        ("openai_socket_mode", s => s.OpenAiSocketMode),
        ("tcp_listen", s => s.TcpListen),
        ("admin_socket", s => s.AdminSocket),
        ("admin_group", s => s.AdminGroup),
        ("data_dir", s => s.DataDir),
        ("supervisor", s => s.Supervisor),
        ("systemd_address", s => s.SystemdAddress),
        ("io_scheduling", s => EnumNames.IoSchedulings.NameOf(s.IoScheduling)),
        ("tls_certificate", s => Source(s.Tls?.Certificate, ApiKeySourceKind.File)),
        ("tls_certificate_credential", s => Source(s.Tls?.Certificate, ApiKeySourceKind.Credential)),
        ("tls_key", s => Source(s.Tls?.Key, ApiKeySourceKind.File)),
        ("tls_key_credential", s => Source(s.Tls?.Key, ApiKeySourceKind.Credential)),
        ("tls_client_ca", s => s.Tls?.ClientCa),
        ("allow_plaintext", s => s.AllowPlaintext),
    ];

    /// <summary>The [server] keys that need a restart of ullmd: a reload that changes one is rejected.</summary>
    public static IEnumerable<string> RestartOnlyKeys => RestartOnly.Select(k => k.Key);

    private static List<ConfigError> ListenerChanges(ServerConfig old, ServerConfig next, string file)
    {
        var errors = new List<ConfigError>();
        foreach (var (key, value) in RestartOnly)
        {
            var (a, b) = (value(old), value(next));
            if (!Equals(a, b))
            {
                errors.Add(new ConfigError(file, 0, 0, $"server.{key}", $"changed from '{a}' to '{b}'; this needs a restart of ullmd, not a reload"));
            }
        }

        return errors;
    }

    private static string? Source(ApiKeySource? source, ApiKeySourceKind kind) => source?.Kind == kind ? source.Value : null;

    private sealed record Snapshot(UllmConfig Config, DateTimeOffset LoadedAt);
}

internal sealed record ReloadResult(bool Applied, IReadOnlyList<ConfigError> Errors, IReadOnlyList<string> Changes);
