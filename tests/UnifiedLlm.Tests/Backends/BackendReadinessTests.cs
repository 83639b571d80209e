using Microsoft.Extensions.Logging.Testing;
using UnifiedLlm.Daemon.Backends;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Daemon.Supervision;
using UnifiedLlm.Daemon.Systemd;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Backends;

/// <summary>
/// A backend that never gets ready fails with all it wrote, also what it says as it is stopped: the shared readiness
/// wait (vLLM, Ollama, generic) and llama.cpp's read its output only once it is gone, since the output reaches the log
/// by polling. The servers here are shell scripts under the real process supervisor that print a line when SIGTERM
/// arrives, which an error read before the stop can never hold.
/// </summary>
public sealed class BackendReadinessTests : IAsyncDisposable
{
    private const string LastWords = "shutting down: the CUDA context could not be created";
    private static readonly string Script = $"trap 'echo \"{LastWords}\"; exit 1' TERM; echo loading; while :; do sleep 0.1; done";

    private readonly TempDirectory dir = new("ullm-readiness");
    private readonly ProcessSupervisor supervisor;

    public BackendReadinessTests() => supervisor = new ProcessSupervisor(new FakeLogger<ProcessSupervisor>(), dir.File("outputs"));

    public async ValueTask DisposeAsync()
    {
        await supervisor.DisposeAsync();
        dir.Dispose();
    }

    [Fact]
    public async Task The_shared_wait_reports_what_a_backend_that_never_got_ready_printed_as_it_stopped()
    {
        var launch = new BackendLaunch
        {
            UnitName = UnitName.ForModel("never-ready", "1"),
            Model = "never-ready",
            ExecPath = "/bin/sh",
            Arguments = ["-c", Script],
            Environment = new Dictionary<string, string>(),
            StopTimeout = TimeSpan.FromSeconds(10),
        };
        var process = await supervisor.StartAsync(launch, CancellationToken.None);
        using var http = BackendControlHttp.Create(TimeSpan.FromSeconds(2));
        var readiness = new BackendReadiness(supervisor, http, TimeProvider.System);

        using var refusing = new RefusingPort();
        var failure = await Assert.ThrowsAsync<BackendStartException>(() =>
            readiness.WaitAsync(process, new Uri(refusing.Uri, "health"), TimeSpan.FromSeconds(1), CancellationToken.None));

        Assert.StartsWith("never-ready: backend not ready after 1 s (last: ", failure.Message, StringComparison.Ordinal);
        AssertOutput(failure.Message);
        Assert.True(process.Exited.IsCompleted);
    }

    [Fact]
    public async Task A_llama_server_that_times_out_is_reported_with_what_it_printed_as_it_stopped()
    {
        var server = dir.Write("llama-server", $"#!/bin/sh\n{Script}\n");
        File.SetUnixFileMode(server, (UnixFileMode)0b111_101_101);
        var config = ConfigLoader.Parse($"""
            [backends.llamacpp]
            executable = "{server}"

            [models.slow]
            backend = "llamacpp"
            source = "{dir.File("slow.gguf")}"
            context = 512
            """, "readiness.toml");
        var model = config.Models["slow"];
        var estimate = new LlamaCppMemoryEstimate("slow", 512, GgmlType.F16, 0, 0, [], 64UL << 20, 0, 0);
        var start = new BackendStart(model, new LoadPlan([], null, 0, 512, estimate, []), config.Backends.For(model), UnitName.ForModel("slow", "1"));
        using var http = BackendControlHttp.Create(TimeSpan.FromSeconds(2));
        var driver = new LlamaCppDriver(supervisor, new PortAllocator(), http, new LlamaCppDriverOptions { LoadTimeout = TimeSpan.FromSeconds(1) }, TimeProvider.System);

        var failure = await Assert.ThrowsAsync<BackendStartException>(() => driver.StartAsync(start, CancellationToken.None));

        Assert.StartsWith("llama-server for slow was not ready at http://127.0.0.1:", failure.Message, StringComparison.Ordinal);
        AssertOutput(failure.Message);
    }

    /// <summary>The output before the failure, and last the line printed on SIGTERM.</summary>
    private static void AssertOutput(string message)
    {
        var output = message.IndexOf("; its last output:\n", StringComparison.Ordinal);
        Assert.True(output > 0, message);
        Assert.True(message.IndexOf("\n  loading", output, StringComparison.Ordinal) > 0, message);
        Assert.True(message.EndsWith($"\n  {LastWords}", StringComparison.Ordinal), message);
    }
}
