using System.Net.Http.Json;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Supervision;
using UnifiedLlm.Tests.Gateway;
using UnifiedLlm.Tests.Models;
using UnifiedLlm.Tests.Support;
using TempDirectory = UnifiedLlm.Tests.Support.TempDirectory;

namespace UnifiedLlm.Tests.Daemon;

/// <summary>
/// A real ullmd with the process supervisor and a real llama-server: SIGKILL of ullmd leaves the backend serving, the
/// next ullmd adopts it without a reload, and a clean stop ends it. (The same under systemd: backends-in-systemd.sh.)
/// </summary>
public sealed class ProcessSupervisorRestartTests
{
    [Fact]
    public async Task After_SIGKILL_the_next_ullmd_adopts_the_running_backend_and_a_clean_stop_ends_it()
    {
        var llamaServer = LlamaServerBinary.Find();
        if (llamaServer is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        using var dir = new TempDirectory("ullm-restart");
        TinyModel.Write(dir.File("tiny.gguf"));
        var paths = DaemonProcess.WriteConfig(dir, $"""
            [backends.llamacpp]
            executable = "{llamaServer}"

            [models.tiny]
            backend = "llamacpp"
            source = "{dir.File("tiny.gguf")}"
            context = 256
            """, serverExtra: "supervisor = \"process\"");
        var outputs = Path.Combine(paths.DataDir, "backends");
        FoundBackend? backend = null;
        try
        {
            await using (var first = await DaemonProcess.StartAsync(dir, paths))
            {
                var load = await first.CtlAsync("load", "tiny", "--wait");
                Assert.True(load.ExitCode == 0, load.ToString());
                backend = Assert.Single(BackendProcessScan.Find(outputs));
                Signals.Send(first.Pid, Signals.Kill);
                await first.WaitForExitAsync(TimeSpan.FromSeconds(30));
            }

            Assert.NotNull(BackendProcessScan.StartTime(backend.Pid));
            await using var second = await DaemonProcess.StartAsync(dir, paths);
            Assert.Contains("supervisor  process\n", (await second.CtlAsync("status")).StandardOutput, StringComparison.Ordinal);
            var models = await second.CtlAsync("models", "--loaded", "--json");
            Assert.Contains("\"tiny\"", models.StandardOutput, StringComparison.Ordinal);
            using var client = GatewayHost.UnixClient(paths.OpenAiSocket);
            using var response = await client.PostAsJsonAsync(
                "v1/chat/completions", new { model = "tiny", max_tokens = 4, messages = new[] { new { role = "user", content = "hi" } } }, TestContext.Current.CancellationToken);
            Assert.Equal(200, (int)response.StatusCode);
            Assert.Equal(backend, Assert.Single(BackendProcessScan.Find(outputs)));
            Assert.Contains("adopted", second.Output, StringComparison.Ordinal);

            Assert.Equal(0, await second.StopAsync());
            Assert.Null(BackendProcessScan.StartTime(backend.Pid));
        }
        finally
        {
            if (backend is not null && BackendProcessScan.StartTime(backend.Pid) is not null)
            {
                ProcessGroupSignals.Send(backend.Pid, ProcessGroupSignals.Kill);
            }
        }
    }
}
