using System.Text.Json;
using UnifiedLlm.Tests.Support;
using LlamaServerBinary = UnifiedLlm.Tests.Models.LlamaServerBinary;
using RandomModelShape = UnifiedLlm.Daemon.Models.RandomModelShape;
using TinyModel = UnifiedLlm.Daemon.Models.TinyModel;

namespace UnifiedLlm.Tests.Scheduling;

/// <summary>
/// A real <c>ullmctl</c> against a real ullmd loading the tiny model with a real llama-server: the load's phases arrive
/// in order, <c>ullmctl load</c> without <c>--wait</c> returns once the weights load, and <c>ullmctl plan</c> shows the
/// same placement and evictions as the load it previews.
/// </summary>
public sealed class LoadProgressDaemonTests
{
    private static readonly string[] Phases =
        ["LOAD_PHASE_QUEUED", "LOAD_PHASE_PLANNING", "LOAD_PHASE_EVICTING", "LOAD_PHASE_STARTING_UNIT", "LOAD_PHASE_LOADING_WEIGHTS", "LOAD_PHASE_READY"];

    [Fact(Timeout = 180_000)]
    public async Task A_load_sends_each_phase_in_order_and_plan_previews_its_placement_and_its_group_eviction()
    {
        var ct = TestContext.Current.CancellationToken;
        var llamaServer = LlamaServerBinary.Find();
        if (llamaServer is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        using var dir = new TempDirectory("ullm-progress");
        TinyModel.Write(dir.File("tiny.gguf"), RandomModelShape.Tiny);
        var paths = DaemonProcess.WriteConfig(dir, $"""
            [backends.llamacpp]
            executable = "{llamaServer}"

            [models.first]
            backend = "llamacpp"
            source = "{dir.File("tiny.gguf")}"
            context = 256
            parallel = 1
            group = "one-at-a-time"

            [models.second]
            backend = "llamacpp"
            source = "{dir.File("tiny.gguf")}"
            context = 128
            parallel = 2
            group = "one-at-a-time"
            """, serverExtra: "supervisor = \"process\"\nstop_backends_on_exit = true");
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);

        // Without --wait ullmctl returns once the unit runs and loads its weights, and says so.
        var detached = await daemon.CtlAsync("--json", "load", "first");
        Assert.True(detached.ExitCode == 0, detached.ToString());
        Assert.Equal(["LOAD_PHASE_QUEUED", "LOAD_PHASE_PLANNING", "LOAD_PHASE_STARTING_UNIT", "LOAD_PHASE_LOADING_WEIGHTS"], PhasesOf(detached.StandardOutput));
        Assert.Contains("first is loading in the background", detached.StandardError, StringComparison.Ordinal);
        Assert.True((await daemon.CtlAsync("load", "first", "--wait")).ExitCode == 0);

        ct.ThrowIfCancellationRequested();
        var planned = await daemon.CtlAsync("--json", "plan", "second");
        Assert.True(planned.ExitCode == 0, planned.ToString());
        using var plan = JsonDocument.Parse(planned.StandardOutput);
        var eviction = Assert.Single(plan.RootElement.GetProperty("evictions").EnumerateArray());
        Assert.Equal("first", eviction.GetProperty("model").GetString());
        Assert.Equal("swapped out of exclusive group 'one-at-a-time' for second", eviction.GetProperty("reason").GetString());

        ct.ThrowIfCancellationRequested();
        var loaded = await daemon.CtlAsync("--json", "load", "second", "--wait");
        Assert.True(loaded.ExitCode == 0, loaded.ToString());
        var lines = loaded.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(Phases, PhasesOf(loaded.StandardOutput));
        Assert.Equal("next to load", Message(lines, "LOAD_PHASE_QUEUED"));
        Assert.Contains("stopping first (swapped out of exclusive group 'one-at-a-time' for second)", Message(lines, "LOAD_PHASE_EVICTING"), StringComparison.Ordinal);
        var unit = lines.First(l => Phase(l) == "LOAD_PHASE_STARTING_UNIT").GetProperty("instance").GetProperty("unit").GetString();
        Assert.StartsWith("ullm-second-", unit, StringComparison.Ordinal);
        Assert.Contains("llama-server (pid ", Message(lines, "LOAD_PHASE_LOADING_WEIGHTS"), StringComparison.Ordinal);

        // The load placed what the plan said: same layers, context per slot and slots; and first was stopped for it.
        var ready = lines.Last().GetProperty("instance");
        Assert.Equal(unit, ready.GetProperty("unit").GetString());
        Assert.Equal(Number(plan.RootElement, "gpuLayers"), Number(ready, "gpuLayers"));
        Assert.Equal(Number(plan.RootElement, "context"), Number(ready, "context"));
        Assert.Equal(Number(plan.RootElement, "parallel"), Number(ready, "parallel"));
        Assert.Equal((128, 2), (Number(ready, "context"), Number(ready, "parallel")));
        var status = await daemon.CtlAsync("--json", "status");
        using var statusJson = JsonDocument.Parse(status.StandardOutput);
        var readyModels = statusJson.RootElement.GetProperty("instances").EnumerateArray()
            .Where(i => i.TryGetProperty("state", out var s) && s.GetString() == "INSTANCE_STATE_READY").Select(i => i.GetProperty("model").GetString());
        Assert.Equal(["second"], readyModels);
    }

    private static string Phase(JsonElement line) => line.GetProperty("phase").GetString()!;

    private static string Message(List<JsonElement> lines, string phase) =>
        lines.First(l => Phase(l) == phase).TryGetProperty("message", out var m) ? m.GetString()! : "";

    private static long Number(JsonElement element, string name) => element.TryGetProperty(name, out var value) ? value.GetInt64() : 0;

    private static List<string> PhasesOf(string jsonLines) =>
        [.. jsonLines.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => Phase(JsonDocument.Parse(l).RootElement))];
}
