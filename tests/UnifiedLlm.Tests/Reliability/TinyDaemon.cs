using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using UnifiedLlm.Daemon.Supervision;
using UnifiedLlm.Tests.Gateway;
using UnifiedLlm.Tests.Support;
using LlamaServerBinary = UnifiedLlm.Tests.Models.LlamaServerBinary;
using RandomModelShape = UnifiedLlm.Daemon.Models.RandomModelShape;
using TinyModel = UnifiedLlm.Daemon.Models.TinyModel;

namespace UnifiedLlm.Tests.Reliability;

/// <summary>
/// A real ullmd (process supervisor) whose model <c>tiny</c> is the tiny GGUF served by a real llama-server, for the
/// fault, overload and secret tests. Disposing kills ullmd and any backend it left behind.
/// </summary>
internal sealed class TinyDaemon : IAsyncDisposable
{
    private TinyDaemon(TempDirectory dir, DaemonPaths paths, IDictionary<string, string>? environment)
    {
        Dir = dir;
        Paths = paths;
        Environment = environment;
    }

    public TempDirectory Dir { get; }

    public DaemonPaths Paths { get; }

    public IDictionary<string, string>? Environment { get; }

    public DaemonProcess Process { get; private set; } = null!;

    public string BackendOutputs => System.IO.Path.Combine(Paths.DataDir, "backends");

    /// <summary>
    /// One request slot unless <paramref name="modelExtra"/> sets <c>parallel</c>: the suite's capacities and timings
    /// count one; <paramref name="tcpListen"/> adds the TCP listener. Null (and the caller skips with
    /// <see cref="LlamaServerBinary.HowToGet"/>) without a llama-server. <paramref name="shape"/> replaces the tiny model's shape.</summary>
    public static async Task<TinyDaemon?> StartAsync(
        string prefix, string extra = "", string modelExtra = "", IDictionary<string, string>? environment = null, Func<TempDirectory, Task>? beforeStart = null,
        int context = 256, string tcpListen = "", RandomModelShape? shape = null)
    {
        var llamaServer = LlamaServerBinary.Find();
        if (llamaServer is null)
        {
            return null;
        }

        var dir = new TempDirectory(prefix);
        // Trained for at least the configured context: llama-server ends a generation at the model's trained length.
        var written = shape ?? RandomModelShape.Tiny;
        TinyModel.Write(dir.File("tiny.gguf"), written with { ContextLength = Math.Max(written.ContextLength, context) });
        var paths = DaemonProcess.WriteConfig(dir, $"""
            [backends.llamacpp]
            executable = "{llamaServer}"

            [models.tiny]
            backend = "llamacpp"
            source = "{dir.File("tiny.gguf")}"
            context = {context}
            {(modelExtra.Contains("parallel", StringComparison.Ordinal) ? "" : "parallel = 1")}
            {modelExtra}

            {extra}
            """, serverExtra: "supervisor = \"process\"\nstop_backends_on_exit = true", tcpListen: tcpListen);
        if (beforeStart is not null)
        {
            await beforeStart(dir);
        }

        var daemon = new TinyDaemon(dir, paths, environment);
        try
        {
            daemon.Process = await DaemonProcess.StartAsync(dir, paths, environment);
            return daemon;
        }
        catch
        {
            await daemon.DisposeAsync();
            throw;
        }
    }

    /// <summary>A new ullmd over the same config and data, after the last one ended.</summary>
    public async Task RestartAsync()
    {
        await Process.DisposeAsync();
        Process = await DaemonProcess.StartAsync(Dir, Paths, Environment);
    }

    public HttpClient Client() => GatewayHost.UnixClient(Paths.OpenAiSocket);

    public IReadOnlyList<FoundBackend> Backends() => BackendProcessScan.Find(BackendOutputs);

    public async Task<FoundBackend> LoadAsync()
    {
        var load = await Process.CtlAsync("load", "tiny", "--wait");
        Assert.True(load.ExitCode == 0, load.ToString());
        return Assert.Single(Backends());
    }

    /// <summary>llama-server's own HTTP address, from its command line.</summary>
    public static Uri AddressOf(FoundBackend backend)
    {
        var argv = File.ReadAllText($"/proc/{backend.Pid}/cmdline").Split('\0');
        var port = argv[Array.IndexOf(argv, "--port") + 1];
        return new Uri($"http://127.0.0.1:{port}/");
    }

    public async Task<JsonElement> AuditAsync(int limit = 10_000)
    {
        var audit = await Process.CtlAsync("--json", "audit", "--limit", limit.ToString(CultureInfo.InvariantCulture));
        Assert.True(audit.ExitCode == 0, audit.ToString());
        using var json = JsonDocument.Parse(audit.StandardOutput);
        return json.RootElement.TryGetProperty("records", out var records) ? records.Clone() : JsonDocument.Parse("[]").RootElement.Clone();
    }

    public static long ResidentKib(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }

    public static HttpRequestMessage Chat(int maxTokens, bool stream, string? key = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent(
                $$"""{"model":"tiny","messages":[{"role":"user","content":"hello"}],"max_tokens":{{maxTokens}},"ignore_eos":true,"stream":{{(stream ? "true" : "false")}}}""",
                Encoding.UTF8,
                "application/json"),
        };
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return request;
    }

    public async ValueTask DisposeAsync()
    {
        if (Process is not null)
        {
            await Process.DisposeAsync();
        }

        foreach (var backend in Backends())
        {
            ProcessGroupSignals.Send(backend.Pid, ProcessGroupSignals.Kill);
        }

        // A test may have mounted a small file system there (the disk-full fault).
        if (File.ReadLines("/proc/mounts").Any(l => l.Split(' ')[1] == Paths.DataDir))
        {
            await ProcessRunner.RunAsync("umount", ["-l", Paths.DataDir]);
        }

        Dir.Dispose();
    }
}
