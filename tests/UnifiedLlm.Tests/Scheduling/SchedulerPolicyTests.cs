using UnifiedLlm.Daemon.Backends;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Storage;
using static UnifiedLlm.Tests.Scheduling.SchedulerFixture;

namespace UnifiedLlm.Tests.Scheduling;

/// <summary>
/// Exclusive swap groups, max_loaded per backend and the backoff after failed loads, on a machine where every model fits
/// (so the rule, not memory, is what stops an instance), ordered with the fake driver's gate and the fake clock.
/// </summary>
public sealed class SchedulerPolicyTests
{
    private const string Failure = "llama-server exited before it was ready: exit-code 1 (bad magic)";

    /// <summary>A config head that makes a swap drain a busy model at once instead of letting it serve first.</summary>
    private const string NoSwapWait = "[server]\nmax_swap_wait_seconds = 0\n\n";

    [Fact]
    public async Task Loading_a_group_member_stops_the_loaded_member_before_its_backend_starts_and_leaves_other_models_alone()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await CreateAsync(Model("a", group: "g") + Model("b", group: "g") + Model("c"));
        await fx.Scheduler.LoadedAsync("a", ct);
        await fx.Scheduler.LoadedAsync("c", ct);
        fx.Driver.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        fx.Driver.ResetStarted();

        var loadB = fx.Scheduler.LoadedAsync("b", ct);
        await fx.Driver.Started.Task.WaitAsync(ct);
        Assert.Equal(["a"], StoppedModels(fx));
        fx.Driver.Gate.SetResult();
        await loadB;

        Assert.Equal(["b", "c"], ReadyModels(fx));
        var a = Assert.Single(fx.Scheduler.Instances(), i => i.Model == "a");
        Assert.Equal(InstanceState.Stopped, a.State);
        Assert.Equal("swapped out of exclusive group 'g' for b", a.Transitions[^1].Reason);
    }

    [Fact]
    public async Task A_pinned_member_is_never_swapped_out_and_loading_another_member_is_a_503_naming_it_each_time()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await CreateAsync(Model("a", group: "g", pinned: true) + Model("b", group: "g"));
        await fx.Scheduler.LoadPinnedAsync(ct);

        for (var i = 0; i < 3; i++)
        {
            var e = await fx.Scheduler.RefusedAsync("b", ct);
            Assert.Equal(LeaseFailureKind.DoesNotFit, e.Kind);
            Assert.Equal("b cannot load: a is pinned and loaded, and exclusive group 'g' holds one loaded member at a time", e.Reason);
        }

        Assert.Empty(fx.Driver.Stops);
        Assert.Equal(["a"], fx.Driver.Starts.Select(s => s.Model.Name));
        Assert.Empty(fx.Scheduler.Holds());
    }

    [Fact]
    public async Task Requests_arriving_while_a_group_member_drains_wait_for_it_and_are_then_served()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await CreateAsync(NoSwapWait + Model("a", group: "g") + Model("b", group: "g"));
        var leaseA = await fx.Scheduler.LeaseAsync("a", ct);
        var evict = fx.NextEventAsync("evict", ct);

        var acquireB = fx.Scheduler.LeaseAsync("b", ct).AsTask();
        Assert.StartsWith("a: draining 1 lease(s) before stopping: swapped out of exclusive group 'g' for b", (await evict).Message, StringComparison.Ordinal);
        var secondB = fx.Scheduler.LeaseAsync("b", ct).AsTask();
        var acquireA = fx.Scheduler.LeaseAsync("a", ct).AsTask();
        Assert.Empty(fx.Driver.Stops);
        Assert.Equal(["a"], fx.Driver.Starts.Select(s => s.Model.Name));
        Assert.False(acquireB.IsCompleted || secondB.IsCompleted || acquireA.IsCompleted);

        await leaseA.DisposeAsync();
        var leasesB = await Task.WhenAll(acquireB, secondB);
        Assert.All(leasesB, l => Assert.Equal("b", l.Model));
        Assert.Equal(["a"], StoppedModels(fx));
        Assert.False(acquireA.IsCompleted);

        foreach (var lease in leasesB)
        {
            await lease.DisposeAsync();
        }

        await using var secondA = await acquireA;
        Assert.Equal(["a", "b", "a"], fx.Driver.Starts.Select(s => s.Model.Name));
        Assert.Equal(["a", "b"], StoppedModels(fx));
        Assert.Equal(["a"], ReadyModels(fx));
    }

    [Fact]
    public async Task Alternating_requests_A_B_A_A_C_in_an_exclusive_group_load_each_model_once_two_swaps_not_three()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await CreateAsync(Model("a", group: "g") + Model("b", group: "g") + Model("c", group: "g"));
        var a1 = await fx.Scheduler.LeaseAsync("a", ct);
        var waiting = fx.NextEventAsync("evict", ct);

        var b = fx.Scheduler.LeaseAsync("b", ct).AsTask();
        Assert.Equal("a: serving 1 request(s) before it is swapped out for b (at most 30 s, [server] max_swap_wait_seconds)", (await waiting).Message);
        var a2 = await fx.Scheduler.LeaseAsync("a", ct);
        var a3 = await fx.Scheduler.LeaseAsync("a", ct);
        var c = fx.Scheduler.LeaseAsync("c", ct).AsTask();
        Assert.Equal(["a"], fx.Driver.Starts.Select(s => s.Model.Name));
        Assert.Empty(fx.Driver.Stops);
        Assert.False(b.IsCompleted || c.IsCompleted);

        foreach (var lease in new[] { a1, a2, a3 })
        {
            await lease.DisposeAsync();
        }

        await (await b).DisposeAsync();
        await using var leaseC = await c;

        Assert.Equal(["a", "b", "c"], fx.Driver.Starts.Select(s => s.Model.Name));
        Assert.Equal(["a", "b"], StoppedModels(fx));
        Assert.Equal(["c"], ReadyModels(fx));
    }

    [Fact]
    public async Task A_model_kept_busy_is_swapped_out_once_the_waiting_load_reaches_max_swap_wait()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await CreateAsync("[server]\nmax_swap_wait_seconds = 10\n\n" + Model("a", group: "g") + Model("b", group: "g"));
        var held = await fx.Scheduler.LeaseAsync("a", ct);
        var waiting = fx.NextEventAsync("evict", ct);
        var b = fx.Scheduler.LeaseAsync("b", ct).AsTask();
        Assert.StartsWith("a: serving 1 request(s) before it is swapped out for b (at most 10 s", (await waiting).Message, StringComparison.Ordinal);

        fx.Time.Advance(TimeSpan.FromSeconds(9));
        await (await fx.Scheduler.LeaseAsync("a", ct)).DisposeAsync();
        Assert.Equal(["a"], ReadyModels(fx));
        var draining = fx.NextEventAsync("evict", ct);
        fx.Time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal("a: draining 1 lease(s) before stopping: swapped out of exclusive group 'g' for b", (await draining).Message);
        Assert.False(b.IsCompleted);
        await held.DisposeAsync();
        await using var leaseB = await b;
        Assert.Equal(["a", "b"], fx.Driver.Starts.Select(s => s.Model.Name));
        Assert.Equal(["a"], StoppedModels(fx));
    }

    [Fact(Timeout = 60_000)]
    public async Task A_model_waiting_behind_busy_models_loads_within_one_swap_wait_per_load_ahead_and_is_not_overtaken()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await CreateAsync("[server]\nmax_swap_wait_seconds = 10\n\n" + Model("a", group: "g") + Model("b", group: "g") + Model("c", group: "g"));
        var began = fx.Time.GetUtcNow();
        var a1 = await fx.Scheduler.LeaseAsync("a", ct);
        var servingA = fx.NextEventAsync("evict", ct, "a: serving");
        var b = fx.Scheduler.LeaseAsync("b", ct).AsTask();
        await servingA;
        var c = fx.Scheduler.LeaseAsync("c", ct).AsTask();

        // a keeps taking requests, and b's, then c's load wait their turns while it serves them.
        var a2 = await fx.Scheduler.LeaseAsync("a", ct);
        var drainingA = fx.NextEventAsync("evict", ct, "a: draining 2 lease(s)");
        fx.Time.Advance(TimeSpan.FromSeconds(10));
        await drainingA;
        var servingB = fx.NextEventAsync("evict", ct, "b: serving 1 request(s) before it is swapped out for c");
        await a1.DisposeAsync();
        await a2.DisposeAsync();
        var b1 = await b;
        await servingB;

        // Asked for again while c waits, a loads after c, not before it.
        var a3 = fx.Scheduler.LeaseAsync("a", ct).AsTask();
        var b2 = await fx.Scheduler.LeaseAsync("b", ct);
        var drainingB = fx.NextEventAsync("evict", ct, "b: draining 2 lease(s)");
        fx.Time.Advance(TimeSpan.FromSeconds(10));
        await drainingB;
        await b1.DisposeAsync();
        await b2.DisposeAsync();
        var leaseC = await c;

        Assert.Equal(TimeSpan.FromSeconds(20), fx.Time.GetUtcNow() - began);
        Assert.Equal(["a", "b", "c"], fx.Driver.Starts.Select(s => s.Model.Name));
        Assert.False(a3.IsCompleted);
        await leaseC.DisposeAsync();
        await (await a3).DisposeAsync();
        Assert.Equal(["a", "b", "c", "a"], fx.Driver.Starts.Select(s => s.Model.Name));
    }

    [Fact]
    public async Task Concurrent_loads_of_three_group_members_each_succeed_and_end_with_exactly_one_loaded()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await CreateAsync(Model("a", group: "g") + Model("b", group: "g") + Model("c", group: "g"));
        fx.Driver.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        List<string> members = ["a", "b", "c"];
        var loads = members.Select(m => fx.Scheduler.LoadedAsync(m, ct)).ToList();
        await fx.Driver.Started.Task.WaitAsync(ct);
        fx.Driver.Gate.SetResult();
        var loaded = await Task.WhenAll(loads);

        Assert.All(loaded, i => Assert.Equal(InstanceState.Ready, i.State));
        Assert.Equal(3, fx.Driver.Starts.Count);
        Assert.Equal(2, fx.Driver.Stops.Count);
        Assert.Equal([fx.Driver.Starts.Last().Model.Name], ReadyModels(fx));
        Assert.Equal(2, fx.Scheduler.Instances().Count(i => i.State == InstanceState.Stopped));
    }

    [Fact]
    public async Task A_member_that_becomes_ready_serves_its_waiting_request_before_a_queued_swap_stops_it()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await CreateAsync(Model("a", group: "g") + Model("b", group: "g"));
        fx.Driver.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var acquireA = fx.Scheduler.LeaseAsync("a", ct).AsTask();
        await fx.Driver.Started.Task.WaitAsync(ct);
        var acquireB = fx.Scheduler.LeaseAsync("b", ct).AsTask();
        fx.Driver.Gate.SetResult();

        await using (var leaseA = await acquireA)
        {
            Assert.Equal("a", leaseA.Model);
            Assert.Equal(["a"], fx.Driver.Starts.Select(s => s.Model.Name));
            Assert.Empty(fx.Driver.Stops);
            Assert.False(acquireB.IsCompleted);
        }

        await using var leaseB = await acquireB;
        Assert.Equal(["a", "b"], fx.Driver.Starts.Select(s => s.Model.Name));
        Assert.Equal(["a"], StoppedModels(fx));
    }

    [Fact]
    public async Task At_max_loaded_the_lowest_priority_then_least_recently_used_instance_of_that_backend_is_evicted()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await CreateAsync(
            "[backends.llamacpp]\nmax_loaded = 2\n" + Model("a", priority: 40) + Model("b") + Model("c") + Model("d"));
        await fx.Scheduler.LoadedAsync("a", ct);
        fx.Time.Advance(TimeSpan.FromSeconds(1));
        await fx.Scheduler.LoadedAsync("b", ct);
        fx.Time.Advance(TimeSpan.FromSeconds(1));
        await (await fx.Scheduler.LeaseAsync("a", ct)).DisposeAsync();
        fx.Time.Advance(TimeSpan.FromSeconds(1));

        await fx.Scheduler.LoadedAsync("c", ct);
        Assert.Equal(["a"], StoppedModels(fx));
        Assert.Equal(["b", "c"], ReadyModels(fx));
        Assert.Equal(
            "evicted for c: [backends.llamacpp] max_loaded = 2",
            fx.Scheduler.Instances().Single(i => i.Model == "a").Transitions[^1].Reason);

        fx.Time.Advance(TimeSpan.FromSeconds(1));
        await (await fx.Scheduler.LeaseAsync("b", ct)).DisposeAsync();
        fx.Time.Advance(TimeSpan.FromSeconds(1));
        await fx.Scheduler.LoadedAsync("d", ct);
        Assert.Equal(["a", "c"], StoppedModels(fx));
        Assert.Equal(["b", "d"], ReadyModels(fx));
    }

    [Fact]
    public async Task At_max_loaded_with_only_pinned_instances_a_load_is_a_503_with_the_reason()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await CreateAsync("[backends.llamacpp]\nmax_loaded = 1\n" + Model("a", pinned: true) + Model("b"));
        await fx.Scheduler.LoadPinnedAsync(ct);

        var e = await fx.Scheduler.RefusedAsync("b", ct);

        Assert.Equal(LeaseFailureKind.DoesNotFit, e.Kind);
        Assert.Equal("b cannot load: [backends.llamacpp] max_loaded = 1 is reached and too few llamacpp models can be evicted: a is pinned", e.Reason);
        Assert.Empty(fx.Driver.Stops);
        Assert.Equal(["a"], ReadyModels(fx));
    }

    [Fact]
    public async Task Repeated_failed_loads_back_off_doubling_up_to_the_cap_and_a_success_resets_it()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await CreateAsync(Model("a"), new SchedulerOptions { BackoffFirst = TimeSpan.FromSeconds(1), BackoffCap = TimeSpan.FromSeconds(4) });
        fx.Driver.FailWith = new BackendStartException(Failure);

        await AssertFailsToLoadAsync(fx);
        Assert.Empty(fx.Scheduler.Holds());
        await AssertFailsToLoadAsync(fx);
        foreach (var (wait, failures) in new[] { (1, 2), (2, 3), (4, 4), (4, 5) })
        {
            var starts = fx.Driver.Starts.Count;
            var refused = await fx.Scheduler.RefusedAsync("a", ct);
            Assert.Equal(LeaseFailureKind.BackingOff, refused.Kind);
            Assert.Equal(TimeSpan.FromSeconds(wait), refused.RetryAfter);
            var until = fx.Time.GetUtcNow().AddSeconds(wait);
            Assert.Equal(
                $"a is backing off until {until:HH:mm:ss} UTC after {failures} failures: a failed to load: {Failure}; `ullmctl load a` or a config reload retries at once",
                refused.Reason);
            Assert.Equal(new LoadHold("a", LoadHoldKind.Backoff, until, failures, $"a failed to load: {Failure}"), Assert.Single(fx.Scheduler.Holds()));

            fx.Time.Advance(TimeSpan.FromSeconds(wait) - TimeSpan.FromMilliseconds(1));
            Assert.Equal(
                TimeSpan.FromMilliseconds(1),
                (await fx.Scheduler.RefusedAsync("a", ct)).RetryAfter);
            Assert.Equal(starts, fx.Driver.Starts.Count);
            fx.Time.Advance(TimeSpan.FromMilliseconds(1));
            if (failures < 5)
            {
                await AssertFailsToLoadAsync(fx);
            }
        }

        fx.Driver.FailWith = null;
        await (await fx.Scheduler.LeaseAsync("a", ct)).DisposeAsync();
        Assert.Empty(fx.Scheduler.Holds());
        Assert.True(await fx.Scheduler.UnloadedAsync("a", ct));
        fx.Driver.FailWith = new BackendStartException(Failure);
        await AssertFailsToLoadAsync(fx);
        await AssertFailsToLoadAsync(fx);
        Assert.Equal(2, Assert.Single(fx.Scheduler.Holds()).Failures);
    }

    [Fact]
    public async Task A_failed_download_fails_the_load_with_its_reason_names_the_model_in_its_event_and_backs_off_without_starting_a_backend()
    {
        var ct = TestContext.Current.CancellationToken;
        const string Remote = "http://127.0.0.1:9/remote.gguf";
        await using var fx = await CreateAsync(
            $"[models.r]\nbackend = \"llamacpp\"\nsource = \"{Remote}\"\ncontext = {SchedulerFixture.Context}\n",
            new SchedulerOptions { BackoffFirst = TimeSpan.FromSeconds(1), BackoffCap = TimeSpan.FromSeconds(4) });
        const string Reason = $"r: {Remote} is not downloaded yet, and this scheduler was made without a downloader";

        var published = fx.NextEventAsync("failure", ct);
        var first = await fx.Scheduler.RefusedAsync("r", ct);
        var failure = await published;

        Assert.Equal((LeaseFailureKind.LoadFailed, Reason), (first.Kind, first.Reason));
        Assert.Equal((Reason, "r"), (failure.Message, failure.Model));
        Assert.Empty(fx.Scheduler.Holds());
        Assert.Equal(LeaseFailureKind.LoadFailed, (await fx.Scheduler.RefusedAsync("r", ct)).Kind);
        var refused = await fx.Scheduler.RefusedAsync("r", ct);
        Assert.Equal(LeaseFailureKind.BackingOff, refused.Kind);
        Assert.Equal(new LoadHold("r", LoadHoldKind.Backoff, fx.Time.GetUtcNow().AddSeconds(1), 2, Reason), Assert.Single(fx.Scheduler.Holds()));
        Assert.Empty(fx.Driver.Starts);
    }

    [Fact]
    public async Task An_explicit_load_ends_the_backoff_and_loads_at_once()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await CreateAsync(Model("a"));
        fx.Driver.FailWith = new BackendStartException(Failure);
        await AssertFailsToLoadAsync(fx);
        await AssertFailsToLoadAsync(fx);
        Assert.Single(fx.Scheduler.Holds());
        fx.Driver.FailWith = null;

        var loaded = await fx.Scheduler.LoadedAsync("a", ct);

        Assert.Equal(InstanceState.Ready, loaded.State);
        Assert.Equal(3, fx.Driver.Starts.Count);
        Assert.Empty(fx.Scheduler.Holds());
    }

    [Fact]
    public async Task A_config_reload_ends_the_backoff()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await CreateAsync(Model("a"));
        fx.Driver.FailWith = new BackendStartException(Failure);
        await AssertFailsToLoadAsync(fx);
        await AssertFailsToLoadAsync(fx);
        Assert.Single(fx.Scheduler.Holds());
        fx.Driver.FailWith = null;
        fx.Time.Advance(TimeSpan.FromMilliseconds(100));

        await fx.ReloadAsync(Model("a"), ct);

        Assert.Empty(fx.Scheduler.Holds());
        await using var lease = await fx.Scheduler.LeaseAsync("a", ct);
        Assert.Equal(3, fx.Driver.Starts.Count);
    }

    private static async Task AssertFailsToLoadAsync(SchedulerFixture fx)
    {
        var starts = fx.Driver.Starts.Count;
        var e = await fx.Scheduler.RefusedAsync("a", TestContext.Current.CancellationToken);
        Assert.Equal(LeaseFailureKind.LoadFailed, e.Kind);
        Assert.Equal($"a failed to load: {Failure}", e.Reason);
        Assert.Equal(starts + 1, fx.Driver.Starts.Count);
    }

    internal static List<string> StoppedModels(SchedulerFixture fx) => [.. fx.Driver.Stops.Select(u => u.Split('-')[1])];

    private static List<string> ReadyModels(SchedulerFixture fx) =>
        [.. fx.Scheduler.Instances().Where(i => i.State == InstanceState.Ready).Select(i => i.Model).Order(StringComparer.Ordinal)];
}
