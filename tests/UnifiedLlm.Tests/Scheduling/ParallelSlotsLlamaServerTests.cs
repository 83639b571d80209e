using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Daemon.Storage;
using RealFixture = UnifiedLlm.Tests.Scheduling.RealLlamaServerSchedulingTests.RealFixture;

namespace UnifiedLlm.Tests.Scheduling;

/// <summary>
/// Request slots and KV cache types through the real scheduler, driver and llama-server (CPU only): the planner's KV
/// term equals the KV buffer llama.cpp logs for 1 and 4 slots and f16, q8_0 and q4_0 caches; four slots serve four
/// streams at once; a load's overrides reach llama-server's argv and are gone after its unload; the plan a preview
/// shows is the one a real load then makes.
/// </summary>
public sealed class ParallelSlotsLlamaServerTests
{
    /// <summary>Heads 32 wide, so that the 32-element blocks of q8_0 and q4_0 divide them as llama.cpp requires.</summary>
    private static readonly RandomModelShape Wide = new(64, 2, 2, 2, 128, 1024);

    [Theory(Timeout = 300_000)]
    [InlineData(1, "f16")]
    [InlineData(4, "f16")]
    [InlineData(1, "q8_0")]
    [InlineData(4, "q8_0")]
    [InlineData(1, "q4_0")]
    [InlineData(4, "q4_0")]
    public async Task The_planned_kv_cache_equals_llama_cpps_logged_kv_buffer(int parallel, string cacheType)
    {
        await using var fx = await RealFixture.CreateAsync(
            ["a"],
            budgetInModels: 20,
            modelToml: $"parallel = {parallel}\nmin_parallel = {parallel}\ncache_type_k = \"{cacheType}\"\ncache_type_v = \"{cacheType}\"\nflash_attn = \"on\"\n",
            backendToml: "extra_args = [\"-lv\", \"4\"]",
            shape: Wide);
        var ct = TestContext.Current.CancellationToken;

        var instance = await fx.Scheduler.LoadedAsync("a", ct);

        var plan = instance.Plan!;
        Assert.Equal(parallel, plan.Parallel);
        Assert.Equal(KvCacheType.FromGgmlType(KvCacheType.Names[cacheType]), plan.Estimate.CacheType);
        // The backend's output reaches its log a little after it answers ready; wait for the KV line, within a bound.
        var lines = new List<string>();
        ulong logged = 0;
        for (var waited = Stopwatch.StartNew(); logged == 0 && waited.Elapsed < TimeSpan.FromSeconds(20); await Task.Delay(100, ct))
        {
            lines.Clear();
            await foreach (var line in fx.Supervisor.ReadLogsAsync(instance.UnitName, 5000, follow: false, ct))
            {
                lines.Add(line.Message);
            }

            logged = LlamaServerMemoryLog.Parse(lines).Host.KvBytes;
        }

        Assert.True(logged > 0, "llama-server logged no KV buffer:\n" + string.Join('\n', lines));
        // llama.cpp logs MiB with two decimals (printf rounds 0.125 to "0.12"): the planner's bytes must be within half of the last digit.
        var planned = plan.Estimate.HostKvBytes;
        Assert.True(Math.Abs((double)planned - logged) <= (0.005 * 1048576) + 1, $"planned KV {planned} bytes, llama.cpp logged {Mib(logged)} MiB");
    }

    [Fact(Timeout = 300_000)]
    public async Task Four_slots_serve_four_streams_at_once()
    {
        // Larger than the tiny model and a longer context, so that one stream takes long enough to be seen alone.
        await using var fx = await RealFixture.CreateAsync(
            ["a"], budgetInModels: 40, modelToml: "parallel = 4\nmin_parallel = 4\n", shape: new RandomModelShape(256, 8, 8, 4, 512, 2048), context: 2048);
        var ct = TestContext.Current.CancellationToken;
        await (await fx.Scheduler.LeaseAsync("a", ct)).DisposeAsync();
        var clock = Stopwatch.StartNew();

        var streams = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => StreamAsync(fx, clock, ct)));

        // Each stream's first token came before any stream ended: the four were generated together, not one after another.
        var lastStart = streams.Max(s => s.FirstToken);
        var firstEnd = streams.Min(s => s.End);
        Assert.True(lastStart < firstEnd, $"streams did not overlap: first tokens at {string.Join(", ", streams.Select(s => s.FirstToken))} ms, ends at {string.Join(", ", streams.Select(s => s.End))} ms");
        Assert.Equal(4, Assert.Single(fx.Scheduler.Instances()).Plan!.Parallel);
    }

    [Fact(Timeout = 300_000)]
    public async Task A_loads_overrides_reach_llama_servers_argv_are_refused_while_it_is_loaded_with_others_and_end_with_its_unload()
    {
        await using var fx = await RealFixture.CreateAsync(["a"], budgetInModels: 20, modelToml: "parallel = 3\n", shape: Wide);
        var ct = TestContext.Current.CancellationToken;

        var overridden = await fx.Scheduler.LoadedAsync("a", ct, new LoadOverrides(512, 2, GpuLayersChoice.Configured, null, KvCacheType.FromGgmlType(GgmlType.Q8_0)));
        var argv = CommandLine(overridden.MainPid!.Value);
        var other = await fx.Scheduler.LoadAsync("a", ct, LoadOverrides.None with { Parallel = 1 });
        Assert.True(await fx.Scheduler.UnloadedAsync("a", ct));
        var configured = await fx.Scheduler.LoadedAsync("a", ct);
        var configuredArgv = CommandLine(configured.MainPid!.Value);

        Assert.Equal("1024", After(argv, "--ctx-size"));
        Assert.Equal("2", After(argv, "--parallel"));
        Assert.Equal("q8_0", After(argv, "--cache-type-k"));
        Assert.Equal("q8_0", After(argv, "--cache-type-v"));
        Assert.Equal("ctx 512, parallel 2, cache-type q8_0", overridden.Overrides.ToString());
        Assert.Equal((3 * 256).ToString(CultureInfo.InvariantCulture), After(configuredArgv, "--ctx-size"));
        Assert.Equal("3", After(configuredArgv, "--parallel"));
        Assert.Equal("f16", After(configuredArgv, "--cache-type-k"));
        Assert.True(configured.Overrides.IsEmpty);
        Assert.Equal(
            (LeaseFailureKind.Conflict, "a is already loaded with ctx 512, parallel 2, cache-type q8_0; unload it first to load it with parallel 1"),
            (other.Failure?.Kind, other.Failure?.Reason));
    }

    [Fact(Timeout = 300_000)]
    public async Task A_preview_shows_the_placement_and_evictions_the_real_load_then_makes()
    {
        await using var fx = await RealFixture.CreateAsync(["a", "b"], budgetInModels: 1.5, modelToml: "parallel = 1\n");
        var ct = TestContext.Current.CancellationToken;
        await (await fx.Scheduler.LeaseAsync("a", ct)).DisposeAsync();
        var configured = fx.Scheduler.Instances().Single().Plan!;
        Assert.Empty(configured.Evictions);

        var (decision, _, _) = fx.Scheduler.Preview(ConfigOf(fx, "b"), LoadOverrides.None, ct);
        var loaded = (await fx.Scheduler.LoadedAsync("b", ct)).Plan!;

        var previewed = Assert.IsType<LoadPlan>(decision);
        Assert.Equal(["a"], previewed.Evictions.Select(e => e.Name));
        Assert.Contains(previewed.Steps, s => s.StartsWith("evicting a", StringComparison.Ordinal));
        Assert.Equal(Placement(previewed), Placement(loaded));
        Assert.Equal(InstanceState.Stopped, fx.Scheduler.Instances().Single(i => i.Model == "a").State);
    }

    private static ModelConfig ConfigOf(RealFixture fx, string name) => fx.Config.Current.Models[name];

    private static string Placement(LoadPlan plan) =>
        $"gpus [{string.Join(",", plan.GpuIndices)}], -ngl {plan.GpuLayers}, {plan.Parallel} × {plan.ContextLength}, {plan.Estimate.CacheType}, "
        + $"host {plan.Estimate.HostTotalBytes}, evicting [{string.Join(",", plan.Evictions.Select(e => e.Name))}]";

    private static string Mib(ulong bytes) => (bytes / 1048576.0).ToString("0.00", CultureInfo.InvariantCulture);

    private static string[] CommandLine(int pid) => File.ReadAllText($"/proc/{pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);

    private static string After(string[] argv, string flag) => argv[Array.LastIndexOf(argv, flag) + 1];

    /// <summary>One streaming completion on a lease of its own, through the lease's admission; when its first token and its end arrived (ms).</summary>
    private static async Task<(double FirstToken, double End)> StreamAsync(RealFixture fx, Stopwatch clock, CancellationToken cancellationToken)
    {
        await using var lease = await fx.Scheduler.LeaseAsync("a", cancellationToken);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(lease.BaseAddress, "v1/chat/completions"))
        {
            Content = JsonContent.Create(new
            {
                model = lease.UpstreamModel,
                stream = true,
                max_tokens = 1500,
                ignore_eos = true,
                messages = new[] { new { role = "user", content = "hi" } },
            }),
        };
        using var response = await lease.Connections.SendAsync(request, cancellationToken);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
        double? first = null;
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (first is null && line.Contains("\"content\"", StringComparison.Ordinal))
            {
                first = clock.Elapsed.TotalMilliseconds;
            }
        }

        return (first ?? throw new InvalidOperationException("the stream carried no token"), clock.Elapsed.TotalMilliseconds);
    }
}
