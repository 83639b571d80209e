using UnifiedLlm.Daemon.Backends;
using UnifiedLlm.Daemon.Providers;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Tests.Scheduling;

public sealed class SchedulerTests
{
    [Fact]
    public async Task Ten_concurrent_acquires_start_one_backend()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a"));
        fx.Driver.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var acquires = Enumerable.Range(0, 10).Select(_ => fx.Scheduler.LeaseAsync("a", ct).AsTask()).ToList();
        await fx.Driver.Started.Task.WaitAsync(ct);
        Assert.All(acquires, a => Assert.False(a.IsCompleted));
        fx.Driver.Gate.SetResult();
        var leases = await Task.WhenAll(acquires);

        Assert.Single(fx.Driver.Starts);
        Assert.Single(leases.Select(l => l.BaseAddress).Distinct());
        Assert.Equal(10, Assert.Single(fx.Scheduler.Instances()).Leases);
        foreach (var lease in leases)
        {
            await lease.DisposeAsync();
        }

        Assert.Equal(0, Assert.Single(fx.Scheduler.Instances()).Leases);
    }

    [Fact]
    public async Task Full_queue_answers_429_with_retry_after()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a"), new SchedulerOptions { QueueCapacity = 2, RetryAfter = TimeSpan.FromSeconds(7) });
        fx.Driver.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var waiting = new[] { fx.Scheduler.LeaseAsync("a", ct).AsTask(), fx.Scheduler.LeaseAsync("a", ct).AsTask() };
        var full = await fx.Scheduler.RefusedAsync("a", ct);

        Assert.Equal(LeaseFailureKind.QueueFull, full.Kind);
        Assert.Equal(TimeSpan.FromSeconds(7), full.RetryAfter);
        Assert.Contains("2 requests already wait for a", full.Reason, StringComparison.Ordinal);
        fx.Driver.Gate.SetResult();
        foreach (var lease in await Task.WhenAll(waiting))
        {
            await lease.DisposeAsync();
        }
    }

    [Fact]
    public async Task Failed_load_answers_every_waiter_503_with_the_reason_and_the_next_acquire_retries()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a"));
        fx.Driver.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        fx.Driver.FailWith = new BackendStartException("llama-server exited before it was ready: exit-code 1 (bad magic)");
        var failure = fx.NextEventAsync("failure", ct);

        var acquires = Enumerable.Range(0, 5).Select(_ => fx.Scheduler.AcquireAsync("a", ct).AsTask()).ToList();
        await fx.Driver.Started.Task.WaitAsync(ct);
        fx.Driver.Gate.SetResult();

        foreach (var acquire in acquires)
        {
            var e = (await acquire).Failure;
            Assert.Equal(LeaseFailureKind.LoadFailed, e?.Kind);
            Assert.Contains("a failed to load: llama-server exited before it was ready: exit-code 1 (bad magic)", e!.Reason, StringComparison.Ordinal);
        }

        Assert.Single(fx.Driver.Starts);
        Assert.Contains("bad magic", (await failure).Message, StringComparison.Ordinal);
        Assert.Equal(InstanceState.Failed, Assert.Single(fx.Scheduler.Instances()).State);

        fx.Driver.FailWith = null;
        await using var lease = await fx.Scheduler.LeaseAsync("a", ct);
        Assert.Equal(2, fx.Driver.Starts.Count);
    }

    [Fact]
    public async Task Unknown_model_is_404()
    {
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a"));

        var e = await fx.Scheduler.RefusedAsync("b", TestContext.Current.CancellationToken);

        Assert.Equal(LeaseFailureKind.UnknownModel, e.Kind);
        Assert.Contains("'b'", e.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Request_just_before_the_ttl_keeps_the_instance_and_restarts_the_idle_clock()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a", ttlSeconds: 60));
        await (await fx.Scheduler.LeaseAsync("a", ct)).DisposeAsync();

        var start = fx.Time.GetUtcNow();
        fx.Time.Advance(TimeSpan.FromSeconds(59));
        var lease = await fx.Scheduler.LeaseAsync("a", ct);
        fx.Time.Advance(TimeSpan.FromSeconds(120));
        Assert.Empty(fx.Driver.Stops);
        await lease.DisposeAsync();
        fx.Time.Advance(TimeSpan.FromSeconds(59));
        Assert.Empty(fx.Driver.Stops);

        // The deadline is the last use plus the ttl, whenever the loop handles the timers before it: the clock goes to
        // exactly that instant, and the stop is decided there (its event carries the clock of the decision).
        var draining = fx.NextEventAsync("unload", ct, "a: draining");
        var stopped = fx.NextEventAsync("unload", ct, "a: stopped");
        fx.Time.Advance(TimeSpan.FromSeconds(1));
        var decided = await draining.WaitAsync(TimeSpan.FromSeconds(30), ct);
        await stopped.WaitAsync(TimeSpan.FromSeconds(30), ct);

        Assert.Equal("a: draining 0 lease(s) before stopping: idle for 60 s (ttl)", decided.Message);
        Assert.Equal(start.AddSeconds(239), decided.Time);
        Assert.Single(fx.Driver.Stops);
        Assert.Single(fx.Driver.Starts);
        Assert.Equal(InstanceState.Stopped, Assert.Single(fx.Scheduler.Instances()).State);
    }

    [Fact]
    public async Task Request_arriving_after_the_ttl_unload_began_waits_for_a_reload()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a", ttlSeconds: 60));
        await (await fx.Scheduler.LeaseAsync("a", ct)).DisposeAsync();

        fx.Time.Advance(TimeSpan.FromSeconds(60));
        await using var lease = await fx.Scheduler.LeaseAsync("a", ct);

        Assert.Single(fx.Driver.Stops);
        Assert.Equal(2, fx.Driver.Starts.Count);
        var units = fx.Driver.Starts.Select(s => s.UnitName).ToList();
        Assert.NotEqual(units[0], units[1]);
        Assert.EndsWith($"/{units[1]}/", lease.BaseAddress.AbsolutePath, StringComparison.Ordinal);
        Assert.Equal(InstanceState.Ready, Assert.Single(fx.Scheduler.Instances()).State);
    }

    [Fact]
    public async Task Eviction_waits_for_the_live_lease_and_a_request_for_the_draining_model_waits_for_its_reload()
    {
        var ct = TestContext.Current.CancellationToken;
        // No wait before the swap: the eviction drains at once (SchedulerPolicyTests has the wait and its bound).
        await using var fx = await SchedulerFixture.CreateAsync(
            "[server]\nmax_swap_wait_seconds = 0\n\n" + SchedulerFixture.Model("a") + SchedulerFixture.Model("b"), budgetInModels: 1.5);
        var leaseA = await fx.Scheduler.LeaseAsync("a", ct);
        var evict = fx.NextEventAsync("evict", ct);

        var acquireB = fx.Scheduler.LeaseAsync("b", ct).AsTask();
        Assert.StartsWith("a: draining 1 lease(s)", (await evict).Message, StringComparison.Ordinal);
        var acquireA = fx.Scheduler.LeaseAsync("a", ct).AsTask();
        Assert.Empty(fx.Driver.Stops);
        Assert.Single(fx.Driver.Starts);
        Assert.False(acquireB.IsCompleted);
        Assert.False(acquireA.IsCompleted);

        await leaseA.DisposeAsync();
        var leaseB = await acquireB;
        Assert.Equal("b", leaseB.Model);
        Assert.Equal(["a"], fx.Driver.Stops.Select(u => u.Split('-')[1]));
        Assert.False(acquireA.IsCompleted);

        await leaseB.DisposeAsync();
        await using var secondA = await acquireA;
        Assert.Equal(["a", "b", "a"], fx.Driver.Starts.Select(s => s.Model.Name));
        Assert.Equal(["a", "b"], fx.Driver.Stops.Select(u => u.Split('-')[1]));
    }

    [Fact]
    public async Task Two_models_that_do_not_fit_together_swap()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a") + SchedulerFixture.Model("b"), budgetInModels: 1.5);

        foreach (var model in new[] { "a", "b", "a" })
        {
            await (await fx.Scheduler.LeaseAsync(model, ct)).DisposeAsync();
        }

        Assert.Equal(["a", "b", "a"], fx.Driver.Starts.Select(s => s.Model.Name));
        Assert.Equal(2, fx.Driver.Stops.Count);
        var ready = Assert.Single(fx.Scheduler.Instances(), i => i.State == InstanceState.Ready);
        Assert.Equal("a", ready.Model);
        Assert.Contains("evicting b", ready.Transitions.Single(t => t.State == InstanceState.Starting).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Both_models_stay_loaded_when_they_fit_together()
    {
        var ct = TestContext.Current.CancellationToken;
        // One slot each: the budget is 2.5 one-slot loads, and a first model given more slots would leave too little.
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a") + "parallel = 1\n" + SchedulerFixture.Model("b") + "parallel = 1\n", budgetInModels: 2.5);

        await (await fx.Scheduler.LeaseAsync("a", ct)).DisposeAsync();
        await (await fx.Scheduler.LeaseAsync("b", ct)).DisposeAsync();

        Assert.Empty(fx.Driver.Stops);
        Assert.Equal(2, fx.Scheduler.Instances().Count(i => i.State == InstanceState.Ready));
    }

    [Fact]
    public async Task Crashed_backend_is_marked_failed_and_the_next_acquire_reloads()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a"));
        await (await fx.Scheduler.LeaseAsync("a", ct)).DisposeAsync();
        var failure = fx.NextEventAsync("failure", ct);

        fx.Driver.Crash("a");

        Assert.Contains("backend exited: killed by signal KILL", (await failure).Message, StringComparison.Ordinal);
        await using var lease = await fx.Scheduler.LeaseAsync("a", ct);
        Assert.Equal(2, fx.Driver.Starts.Count);
    }

    [Fact]
    public async Task A_backend_that_stops_answering_its_health_check_is_failed_and_stopped_and_the_next_request_reloads()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a"));
        await (await fx.Scheduler.LeaseAsync("a", ct)).DisposeAsync();
        var unit = Assert.Single(fx.Scheduler.Instances()).UnitName;
        var failure = fx.NextEventAsync("failure", ct);

        fx.Time.Advance(TimeSpan.FromSeconds(30));
        await Task.Delay(50, ct);
        Assert.False(failure.IsCompleted, "a healthy backend must stay ready");
        fx.Driver.Silent["a"] = true;
        for (var i = 0; i < 100 && !failure.IsCompleted; i++)
        {
            fx.Time.Advance(TimeSpan.FromSeconds(10));
            await Task.Delay(10, ct);
        }

        Assert.Contains("a: backend stopped answering its health check (3 failures in a row, 10 s apart; last: not healthy)", (await failure.WaitAsync(TimeSpan.FromSeconds(30), ct)).Message, StringComparison.Ordinal);
        Assert.Contains(unit, fx.Driver.Stops);
        fx.Driver.Silent.Clear();
        await using var lease = await fx.Scheduler.LeaseAsync("a", ct);
        Assert.Equal(2, fx.Driver.Starts.Count);
    }

    [Fact]
    public async Task Three_crashes_in_the_window_hold_the_model_failed_until_an_explicit_load()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a"));
        for (var i = 0; i < 3; i++)
        {
            await (await fx.Scheduler.LeaseAsync("a", ct)).DisposeAsync();
            var failure = fx.NextEventAsync("failure", ct);
            fx.Driver.Crash("a");
            await failure;
        }

        var held = await fx.Scheduler.RefusedAsync("a", ct);
        Assert.Equal(LeaseFailureKind.HeldAfterCrashes, held.Kind);
        Assert.Contains("crashed 3 times", held.Reason, StringComparison.Ordinal);
        Assert.Equal(3, fx.Driver.Starts.Count);

        var loaded = await fx.Scheduler.LoadedAsync("a", ct);
        Assert.Equal(InstanceState.Ready, loaded.State);
        await using var lease = await fx.Scheduler.LeaseAsync("a", ct);
        Assert.Equal(4, fx.Driver.Starts.Count);
    }

    [Fact]
    public async Task Explicit_unload_drains_and_stops()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a"));
        await fx.Scheduler.LoadedAsync("a", ct);

        Assert.True(await fx.Scheduler.UnloadedAsync("a", ct));
        Assert.False(await fx.Scheduler.UnloadedAsync("a", ct));
        Assert.Single(fx.Driver.Stops);
        Assert.Equal(
            [InstanceState.Planned, InstanceState.Starting, InstanceState.Loading, InstanceState.Ready, InstanceState.Draining, InstanceState.Stopped],
            Assert.Single(fx.Scheduler.Instances()).Transitions.Select(t => t.State));
    }

    [Fact]
    public async Task Forced_unload_revokes_the_live_lease_and_stops_the_backend_without_waiting_for_it()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a"));
        var lease = await fx.Scheduler.LeaseAsync("a", ct);
        Assert.False(lease.Revoked.IsCancellationRequested);

        Assert.True(await fx.Scheduler.UnloadedAsync("a", ct, force: true));

        Assert.True(lease.Revoked.IsCancellationRequested);
        Assert.Single(fx.Driver.Stops);
        var stopped = Assert.Single(fx.Scheduler.Instances());
        Assert.Equal(InstanceState.Stopped, stopped.State);
        Assert.Equal(1, stopped.Leases);
        Assert.Equal("unloaded on request with --force, ending 1 request(s) in flight", stopped.Transitions[^1].Reason);

        // Its holder gives it back once its request has ended; the next request loads a new instance.
        await lease.DisposeAsync();
        Assert.Equal(0, Assert.Single(fx.Scheduler.Instances()).Leases);
        await using var next = await fx.Scheduler.LeaseAsync("a", ct);
        Assert.False(next.Revoked.IsCancellationRequested);
        Assert.Equal(2, fx.Driver.Starts.Count);
    }

    [Fact]
    public async Task Forced_unload_revokes_the_live_lease_before_the_backend_is_stopped()
    {
        // Found by SchedulerModelTests (seed 1PCBKdHRg-P5; the steps up to the failure: Request c, Request a, Request a,
        // ForceUnload a): the forced drain ended on the loop, so the stop could reach the backend before the revocation.
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a"));
        var lease = await fx.Scheduler.LeaseAsync("a", ct);
        var revokedAtStop = false;
        fx.Driver.OnStop = _ =>
        {
            revokedAtStop = lease.Revoked.IsCancellationRequested;
            return Task.CompletedTask;
        };

        Assert.True(await fx.Scheduler.UnloadedAsync("a", ct, force: true));

        Assert.True(revokedAtStop);
        await lease.DisposeAsync();
    }

    [Fact]
    public async Task Switch_is_one_decision_and_no_request_loads_from_again_before_to_is_ready()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a") + SchedulerFixture.Model("b"));
        var inFlight = await fx.Scheduler.LeaseAsync("a", ct);
        fx.Driver.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var switching = fx.Scheduler.SwitchAsync("a", "b", ct);

        // Decided at once: a is draining its request, and a request for a neither gets it nor reloads it.
        var whileDraining = await fx.Scheduler.RefusedAsync("a", ct);
        Assert.Equal(LeaseFailureKind.SwitchedOut, whileDraining.Kind);
        Assert.Equal("a is being switched out for b; it can load again once b is ready or failed", whileDraining.Reason);
        Assert.Equal(InstanceState.Draining, Assert.Single(fx.Scheduler.Instances()).State);
        await inFlight.DisposeAsync();
        while (fx.Driver.Starts.Count < 2)
        {
            await Task.Delay(10, ct);
        }

        Assert.Equal(LeaseFailureKind.SwitchedOut, (await fx.Scheduler.RefusedAsync("a", ct)).Kind);
        fx.Driver.Gate.SetResult();
        var switched = await switching;

        Assert.True(switched.Succeeded, switched.Failure?.Reason);
        Assert.Equal(("b", InstanceState.Ready), (switched.Value.Model, switched.Value.State));
        Assert.Equal(["a", "b"], fx.Driver.Starts.Select(s => s.Model.Name));
        var stoppedA = fx.Scheduler.Instances().Single(i => i.Model == "a");
        Assert.Equal((InstanceState.Stopped, "switched out for b"), (stoppedA.State, stoppedA.Transitions[^1].Reason));
        await using var again = await fx.Scheduler.LeaseAsync("a", ct);
        Assert.Equal(3, fx.Driver.Starts.Count);
    }

    [Fact]
    public async Task A_request_woken_by_its_load_finds_the_load_ended_so_a_switch_right_after_drains_it()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a") + SchedulerFixture.Model("b"));
        var lease = await fx.Scheduler.LeaseAsync("a", ct);
        Task<Outcome<InstanceInfo>> switching;
        try
        {
            // Granted in the handler that ended the load, and woken once the view showing both was published.
            Assert.Equal(0, fx.Scheduler.QueueDepths()["a"]);
            var loaded = Assert.Single(fx.Scheduler.Instances());
            Assert.Equal((InstanceState.Ready, 1), (loaded.State, loaded.Leases));

            switching = fx.Scheduler.SwitchAsync("a", "b", ct);
            Assert.Equal(LeaseFailureKind.SwitchedOut, (await fx.Scheduler.RefusedAsync("a", ct)).Kind);
            Assert.Equal(InstanceState.Draining, Assert.Single(fx.Scheduler.Instances()).State);
        }
        finally
        {
            await lease.DisposeAsync();
        }

        var switched = await switching;
        Assert.True(switched.Succeeded, switched.Failure?.Reason);
        Assert.Equal(["a", "b"], fx.Driver.Starts.Select(s => s.Model.Name));
    }

    [Fact]
    public async Task Switch_refuses_unknown_names_and_a_model_already_being_switched_out()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a") + SchedulerFixture.Model("b") + SchedulerFixture.Model("c"));
        await fx.Scheduler.LoadedAsync("a", ct);
        fx.Driver.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var first = fx.Scheduler.SwitchAsync("a", "b", ct);
        var second = await fx.Scheduler.SwitchAsync("a", "c", ct);
        var unknown = await fx.Scheduler.SwitchAsync("a", "nope", ct);
        var itself = await fx.Scheduler.SwitchAsync("b", "b", ct);
        fx.Driver.Gate.SetResult();

        Assert.True((await first).Succeeded);
        Assert.Equal((LeaseFailureKind.Conflict, "a is already being switched out for b"), (second.Failure?.Kind, second.Failure?.Reason));
        Assert.Equal(LeaseFailureKind.UnknownModel, unknown.Failure?.Kind);
        Assert.Equal(LeaseFailureKind.BadArgument, itself.Failure?.Kind);
        Assert.Equal(["a", "b"], fx.Driver.Starts.Select(s => s.Model.Name));
    }

    [Fact]
    public async Task Unload_closes_the_backends_connection_pool_before_it_stops_the_backend()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a"));
        var connections = await PoolOfALeaseAsync(fx, "a", ct);

        bool? closedAtStop = null;
        fx.Driver.OnStop = async _ => closedAtStop = await IsClosedAsync(connections);
        Assert.True(await fx.Scheduler.UnloadedAsync("a", ct));

        Assert.True(closedAtStop, "the pool must be closed before the backend is stopped");
        await using var reloaded = await fx.Scheduler.LeaseAsync("a", ct);
        Assert.NotSame(connections, reloaded.Connections);
        Assert.False(await IsClosedAsync(reloaded.Connections));
    }

    [Fact]
    public async Task A_crashed_backends_connection_pool_is_closed()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a"));
        var connections = await PoolOfALeaseAsync(fx, "a", ct);

        var failure = fx.NextEventAsync("failure", ct);
        fx.Driver.Crash("a");
        await failure;

        Assert.True(await IsClosedAsync(connections));
    }

    [Fact]
    public async Task Load_ready_unload_is_stored_move_by_move_with_its_messages_and_what_was_learnt()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a"));
        var loaded = await fx.Scheduler.LoadedAsync("a", ct);
        await fx.Scheduler.UnloadedAsync("a", ct);
        await fx.Scheduler.DisposeAsync();

        Assert.Matches("^[0-9a-f]{8}$", loaded.Id);
        Assert.Equal($"ullm-a-{loaded.Id}.service", loaded.UnitName);
        var stored = await fx.Store.ListTransitionsAsync(loaded.Id, ct);
        Assert.Equal(
            [InstanceState.Planned, InstanceState.Starting, InstanceState.Loading, InstanceState.Ready, InstanceState.Draining, InstanceState.Stopped],
            stored.Select(t => t.State));
        Assert.Equal(Assert.Single(fx.Scheduler.Instances()).Transitions.Select(t => t.Reason), stored.Select(t => t.Message));
        Assert.StartsWith("CPU, -ngl 0, --parallel 4 × n_ctx 256, evicting nothing", stored[1].Message, StringComparison.Ordinal);
        Assert.Equal("unloaded on request", stored[^1].Message);
        var record = await fx.Store.GetAsync(loaded.Id, ct);
        Assert.Equal(("a", "llamacpp", loaded.UnitName, InstanceState.Stopped), (record!.Model, record.Backend, record.Unit, record.State));
        Assert.Equal((9, loaded.MainPid, "invocation"), (record.Port, record.MainPid, record.InvocationId));
        Assert.Equal((SchedulerFixture.Context, 0), (record.Context, record.GpuLayers));
        Assert.Equal(loaded.Plan!.Summary(), LoadPlanJson.Read(record.PlanJson)!.Summary());
        Assert.Equal(fx.Time.GetUtcNow(), record.LastUsedAt);
        Assert.Null(record.Failure);
    }

    [Fact]
    public async Task A_failed_load_is_stored_with_its_reason()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a"));
        fx.Driver.FailWith = new BackendStartException("llama-server exited before it was ready: exit-code 1 (bad magic)");

        Assert.Equal(LeaseFailureKind.LoadFailed, (await fx.Scheduler.RefusedAsync("a", ct)).Kind);
        var id = Assert.Single(fx.Scheduler.Instances()).Id;
        await fx.Scheduler.DisposeAsync();

        var record = await fx.Store.GetAsync(id, ct);
        Assert.Equal(InstanceState.Failed, record!.State);
        Assert.Equal("a failed to load: llama-server exited before it was ready: exit-code 1 (bad magic)", record.Failure);
        Assert.Equal(
            [InstanceState.Planned, InstanceState.Starting, InstanceState.Loading, InstanceState.Failed],
            (await fx.Store.ListTransitionsAsync(id, ct)).Select(t => t.State));
    }

    [Fact]
    public async Task Requests_are_served_when_the_instance_store_cannot_be_written()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a"));
        await fx.ExecuteAsync("DROP TABLE instance_transitions; DROP TABLE instances;", ct);

        await using (var lease = await fx.Scheduler.LeaseAsync("a", ct))
        {
            Assert.Equal("a", lease.Model);
        }

        Assert.True(await fx.Scheduler.UnloadedAsync("a", ct));
        Assert.Equal(InstanceState.Stopped, Assert.Single(fx.Scheduler.Instances()).State);
    }

    [Fact]
    public async Task Without_stop_backends_on_exit_dispose_leaves_ready_backends_running_and_their_records_ready()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync("[server]\nstop_backends_on_exit = false\n" + SchedulerFixture.Model("a", ttlSeconds: 60));
        var loaded = await fx.Scheduler.LoadedAsync("a", ct);
        var lease = await fx.Scheduler.LeaseAsync("a", ct);

        await fx.Scheduler.DisposeAsync();
        await lease.DisposeAsync();
        fx.Time.Advance(TimeSpan.FromMinutes(5));

        Assert.Empty(fx.Driver.Stops);
        Assert.Equal(InstanceState.Ready, Assert.Single(fx.Scheduler.Instances()).State);
        Assert.Equal(InstanceState.Ready, (await fx.Store.GetAsync(loaded.Id, ct))!.State);
    }

    [Fact]
    public async Task By_default_dispose_drains_and_stops_ready_backends_and_records_it()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var fx = await SchedulerFixture.CreateAsync(SchedulerFixture.Model("a"));
        var loaded = await fx.Scheduler.LoadedAsync("a", ct);

        await fx.Scheduler.DisposeAsync();

        Assert.Equal([loaded.UnitName], fx.Driver.Stops);
        var record = await fx.Store.GetAsync(loaded.Id, ct);
        Assert.Equal(InstanceState.Stopped, record!.State);
        Assert.Equal("ullmd is stopping", (await fx.Store.ListTransitionsAsync(loaded.Id, ct))[^1].Message);
    }

    /// <summary>The connection pool a lease on <paramref name="model"/> came with, open while the backend serves; the lease is released.</summary>
    private static async Task<UpstreamConnections> PoolOfALeaseAsync(SchedulerFixture fx, string model, CancellationToken cancellationToken)
    {
        await using var lease = await fx.Scheduler.LeaseAsync(model, cancellationToken);
        Assert.False(await IsClosedAsync(lease.Connections), "the pool of a ready backend must be open");
        return lease.Connections;
    }

    /// <summary>Whether the pool refuses requests because it was disposed (an open one tries to connect, and is refused by the closed port).</summary>
    private static async ValueTask<bool> IsClosedAsync(UpstreamConnections connections)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://127.0.0.1:9/");
        try
        {
            using var response = await connections.SendAsync(request, CancellationToken.None);
            return false;
        }
        catch (ObjectDisposedException)
        {
            return true;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }
}
