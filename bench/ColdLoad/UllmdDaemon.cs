using System.Collections.Concurrent;
using System.Diagnostics;
using Grpc.Core;
using Grpc.Net.Client;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Ctl;
using AdminClient = UnifiedLlm.Admin.V1.Admin.AdminClient;

namespace UnifiedLlm.Bench.ColdLoad;

/// <summary>One cold load through ullmd: a streamed chat for an unloaded model, and what ullmd's own records say about it.</summary>
internal sealed record UllmdSample(double FirstTokenMs, double DetectionMs, double RequestToLogStartMs, double LoadMs, double ReadyToFirstTokenMs);

/// <summary>
/// ullmd with the process supervisor, started once on a generated config with llama.cpp models, reached on its unix
/// sockets: chats on the OpenAI socket, unloads and "load" events on the admin socket; the backend's output is read from
/// its output file (<see cref="BackendOutputFollower"/>).
/// </summary>
internal sealed class UllmdDaemon : IAsyncDisposable
{
    private static readonly TimeSpan StartLimit = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan FollowLimit = TimeSpan.FromMinutes(1);

    private readonly Process process;
    private readonly string backendsDirectory;
    private readonly HttpClient openAi;
    private readonly GrpcChannel channel;
    private readonly AdminClient admin;
    private readonly CancellationTokenSource stop = new();
    private readonly ConcurrentQueue<(DateTimeOffset At, string Model)> loadEvents = new();
    private Task watching = Task.CompletedTask;

    private UllmdDaemon(Process process, string openAiSocket, string adminSocket, string backendsDirectory)
    {
        this.process = process;
        this.backendsDirectory = backendsDirectory;
        openAi = new HttpClient(UnixSocketHttp.Handler(openAiSocket)) { BaseAddress = new Uri("http://ullmd/"), Timeout = TimeSpan.FromMinutes(5) };
        channel = GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions { HttpHandler = UnixSocketHttp.Handler(adminSocket), DisposeHttpClient = true });
        admin = new AdminClient(channel);
    }

    public static async Task<UllmdDaemon> StartAsync(string ullmd, string llamaServer, IReadOnlyDictionary<string, string> models, DirectoryInfo work, CancellationToken cancellationToken)
    {
        var openAiSocket = Path.Combine(work.FullName, "openai.sock");
        var adminSocket = Path.Combine(work.FullName, "admin.sock");
        var config = Path.Combine(work.FullName, "ullm.toml");
        await File.WriteAllTextAsync(
            config,
            $"""
            [server]
            data_dir = "{work.FullName}"
            openai_socket = "{openAiSocket}"
            admin_socket = "{adminSocket}"
            tcp_listen = ""
            supervisor = "process"
            log_level = "warning"

            [backends.llamacpp]
            executable = "{llamaServer}"

            [security]
            default_requests_per_minute = 0

            """ + string.Concat(models.Select(m => $"""

            [models.{m.Key}]
            backend = "llamacpp"
            source = "{m.Value}"
            context = 256

            """)),
            cancellationToken);
        var start = new ProcessStartInfo(ullmd) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("--config");
        start.ArgumentList.Add(config);
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start ullmd");
        process.OutputDataReceived += (_, e) => Echo(e.Data);
        process.ErrorDataReceived += (_, e) => Echo(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var daemon = new UllmdDaemon(process, openAiSocket, adminSocket, Path.Combine(work.FullName, "backends"));
        await daemon.WaitReadyAsync(cancellationToken);
        daemon.watching = daemon.WatchLoadsAsync();
        return daemon;
    }

    /// <summary>Times a streamed chat for <paramref name="model"/>, which must not be loaded, to its first token.</summary>
    public async Task<UllmdSample> ColdLoadAsync(string model, CancellationToken cancellationToken)
    {
        var follower = new BackendOutputFollower(backendsDirectory, model);
        using var followLimit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        followLimit.CancelAfter(FollowLimit);
        var sent = DateTimeOffset.UtcNow;
        var output = follower.UntilLoadedAsync(sent, followLimit.Token);
        var first = await StreamedChat.FirstTokenAsync(openAi, new Uri(openAi.BaseAddress!, "v1/chat/completions"), model, cancellationToken);
        List<(DateTimeOffset At, string Text)> lines;
        try
        {
            lines = await output;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new InvalidOperationException($"{model}: no \"model loaded\" line in its backend's output within {FollowLimit.TotalSeconds} s");
        }

        var line = ReadyLine.Find(lines, sent)!;
        var ready = await LoadEventAsync(model, sent, cancellationToken);
        return new UllmdSample(
            (first - sent).TotalMilliseconds,
            (ready - line.ReadyAt).TotalMilliseconds,
            (line.LogStartedAt - sent).TotalMilliseconds,
            line.SinceLogStart.TotalMilliseconds,
            (first - ready).TotalMilliseconds);
    }

    /// <summary>A chat that leaves <paramref name="model"/> loaded and idle.</summary>
    public Task EnsureLoadedAsync(string model, CancellationToken cancellationToken) =>
        StreamedChat.FirstTokenAsync(openAi, new Uri(openAi.BaseAddress!, "v1/chat/completions"), model, cancellationToken);

    /// <summary>Unloads <paramref name="model"/> through the admin API (drain, SIGTERM, exit); the wall time it took.</summary>
    public async Task<double> UnloadAsync(string model, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        await admin.UnloadModelAsync(new UnloadModelRequest { Name = model }, cancellationToken: cancellationToken);
        return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    }

    /// <summary>The command line of <paramref name="model"/>'s running llama-server.</summary>
    public async Task<BackendCommand> BackendCommandAsync(string model, CancellationToken cancellationToken)
    {
        var info = await admin.GetModelAsync(new GetModelRequest { Name = model }, cancellationToken: cancellationToken);
        return BackendCommand.OfProcess((int)info.Instance.MainPid);
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        try
        {
            await watching;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled)
        {
            // The watch ends with the benchmark.
        }

        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
        }

        await process.WaitForExitAsync(CancellationToken.None);
        process.Dispose();
        openAi.Dispose();
        channel.Dispose();
        stop.Dispose();
    }

    private async Task WaitReadyAsync(CancellationToken cancellationToken)
    {
        var deadline = DateTimeOffset.UtcNow + StartLimit;
        while (true)
        {
            try
            {
                using var response = await openAi.GetAsync(new Uri(openAi.BaseAddress!, "ready"), cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Its socket is not there yet.
            }

            if (process.HasExited || DateTimeOffset.UtcNow > deadline)
            {
                throw new InvalidOperationException($"ullmd exited or was not ready within {StartLimit.TotalSeconds} s");
            }

            await Task.Delay(50, cancellationToken);
        }
    }

    private async Task WatchLoadsAsync()
    {
        using var call = admin.WatchEvents(new WatchEventsRequest { Kinds = { "load" } }, cancellationToken: stop.Token);
        await foreach (var item in call.ResponseStream.ReadAllAsync(stop.Token))
        {
            loadEvents.Enqueue((item.Time.ToDateTimeOffset(), item.Model));
        }
    }

    /// <summary>When ullmd published <paramref name="model"/> ready, for a load after <paramref name="since"/>.</summary>
    private async Task<DateTimeOffset> LoadEventAsync(string model, DateTimeOffset since, CancellationToken cancellationToken)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(5);
        while (true)
        {
            var found = loadEvents.Where(e => e.Model == model && e.At >= since).Select(e => (DateTimeOffset?)e.At).LastOrDefault();
            if (found is { } at)
            {
                return at;
            }

            if (DateTimeOffset.UtcNow > deadline)
            {
                throw new InvalidOperationException($"no load event for {model}");
            }

            await Task.Delay(5, cancellationToken);
        }
    }

    private static void Echo(string? line)
    {
        if (line is not null)
        {
            Console.Error.WriteLine($"ullmd: {line}");
        }
    }
}
