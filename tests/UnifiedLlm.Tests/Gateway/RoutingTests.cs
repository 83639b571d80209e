using Microsoft.Extensions.Time.Testing;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>Route strategies and circuit breakers, observed through which fake upstream got each request.</summary>
public sealed class RoutingTests
{
    [Fact]
    public async Task An_open_breaker_skips_its_upstream_until_a_half_open_probe_succeeds()
    {
        await using var local = await FakeUpstream.StartAsync();
        // A transport failure: a local backend that answers (even 500) is alive, and its answers do not count.
        local.Handler = (c, _) =>
        {
            c.Abort();
            return Task.CompletedTask;
        };
        await using var backup = await FakeUpstream.StartAsync();
        var models = new StaticModelEndpoints();
        models.Serve("tiny", local.BaseAddress, "tiny.gguf");
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await GatewayHost.StartAsync($"""
            # Callers without a key (the unix socket's here) reach providers only with this (#21).
            [security]
            anonymous_providers = true

            [providers.backup]
            kind = "openai"
            base_url = "{backup.BaseAddress.AbsoluteUri}v1"
            models = ["gpt-x"]

            [router]
            breaker_minimum_requests = 2
            breaker_failure_ratio = 0.5
            breaker_break_seconds = 30

            [router.fallback]
            tiny = ["backup/gpt-x"]
            """, models, time);

        for (var i = 0; i < 3; i++)
        {
            var (status, _, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("tiny")));
            Assert.Equal(200, status);
        }

        // Two requests, each sent twice (a dropped connection to a local backend is tried once more), then the breaker is open.
        Assert.Equal(4, local.Requests.Count);
        Assert.Equal(3, backup.Requests.Count);
        Assert.Equal("open", host.Health.BreakerOf("local:tiny")!.State);
        Assert.Contains("cannot connect", host.Health.BreakerOf("local:tiny")!.LastError, StringComparison.Ordinal);

        time.Advance(TimeSpan.FromSeconds(31));
        local.Handler = (c, _) => FakeUpstream.WriteJsonAsync(c, FakeUpstream.Completion("local again"));
        var (_, body, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("tiny")));

        Assert.Equal("local again", body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        Assert.Equal("closed", host.Health.BreakerOf("local:tiny")!.State);
        await host.StopAsync();
        var rows = await host.Audit.QueryAsync(new AuditQuery(null, null, null, 10), TestContext.Current.CancellationToken);
        Assert.Contains(rows, r => r.FallbackPath.SequenceEqual(["tiny (breaker open)", "backup/gpt-x"]));
    }

    [Fact]
    public async Task Round_robin_alternates_and_local_first_and_cloud_first_order_the_targets()
    {
        await using var local = await FakeUpstream.StartAsync();
        await using var cloud = await FakeUpstream.StartAsync();
        var models = new StaticModelEndpoints();
        models.Serve("tiny", local.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync($"""
            # Callers without a key (the unix socket's here) reach providers only with this (#21).
            [security]
            anonymous_providers = true

            [providers.cloud]
            kind = "openai"
            base_url = "{cloud.BaseAddress.AbsoluteUri}v1"
            models = ["gpt-x"]

            [routes.rr]
            strategy = "round-robin"
            targets = ["tiny", "cloud/gpt-x"]

            [routes.lf]
            strategy = "local-first"
            targets = ["cloud/gpt-x", "tiny"]

            [routes.cf]
            strategy = "cloud-first"
            targets = ["tiny", "cloud/gpt-x"]
            """, models);

        foreach (var route in new[] { "rr", "rr", "rr", "rr", "lf", "cf" })
        {
            await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat(route)));
        }

        Assert.Equal(3, local.Requests.Count);
        Assert.Equal(3, cloud.Requests.Count);
        await host.StopAsync();
        var targets = (await host.Audit.QueryAsync(new AuditQuery(null, null, null, 10), TestContext.Current.CancellationToken))
            .Reverse().Select(r => (r.ModelRequested, r.Target)).ToList();
        Assert.Equal(
            [("rr", "tiny"), ("rr", "cloud/gpt-x"), ("rr", "tiny"), ("rr", "cloud/gpt-x"), ("lf", "tiny"), ("cf", "cloud/gpt-x")],
            targets);
    }

    [Fact]
    public async Task Cost_optimized_prefers_local_then_the_cheapest_provider_and_falls_back_in_that_order()
    {
        await using var local = await FakeUpstream.StartAsync();
        local.Handler = FallbackTests.Fault("500");
        await using var cheap = await FakeUpstream.StartAsync();
        await using var dear = await FakeUpstream.StartAsync();
        var models = new StaticModelEndpoints();
        models.Serve("tiny", local.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync($"""
            # Callers without a key (the unix socket's here) reach providers only with this (#21).
            [security]
            anonymous_providers = true

            [providers.dear]
            kind = "openai"
            base_url = "{dear.BaseAddress.AbsoluteUri}v1"
            models = ["m"]
            cost_per_million_input_tokens = 10.0

            [providers.cheap]
            kind = "openai"
            base_url = "{cheap.BaseAddress.AbsoluteUri}v1"
            models = ["m"]
            cost_per_million_input_tokens = 1.0
            cost_per_million_output_tokens = 2.0

            [routes.save]
            strategy = "cost-optimized"
            targets = ["dear/m", "cheap/m", "tiny"]
            """, models);

        var (status, _, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("save")));

        Assert.Equal(200, status);
        Assert.Single(local.Requests);
        Assert.Single(cheap.Requests);
        Assert.Empty(dear.Requests);
        await host.StopAsync();
        var row = Assert.Single(await host.Audit.QueryAsync(new AuditQuery(null, null, null, 10), TestContext.Current.CancellationToken));
        Assert.Equal(["tiny (502)", "cheap/m"], row.FallbackPath);
        Assert.Equal(((5 * 1.0) + (2 * 2.0)) / 1_000_000, row.Cost, 12);
    }

    [Fact]
    public async Task Latency_optimized_tries_unmeasured_targets_then_prefers_the_lowest_ttft()
    {
        await using var slow = await FakeUpstream.StartAsync();
        slow.Handler = async (c, _) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(1), c.RequestAborted);
            await FakeUpstream.WriteJsonAsync(c, FakeUpstream.Completion("slow"));
        };
        await using var fast = await FakeUpstream.StartAsync();
        var models = new StaticModelEndpoints();
        models.Serve("slowmodel", slow.BaseAddress, "s.gguf");
        models.Serve("fastmodel", fast.BaseAddress, "f.gguf");
        await using var host = await GatewayHost.StartAsync("""
            [routes.quick]
            strategy = "latency-optimized"
            targets = ["slowmodel", "fastmodel"]
            """, models);

        for (var i = 0; i < 4; i++)
        {
            await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("quick")));
        }

        Assert.Single(slow.Requests);
        Assert.Equal(3, fast.Requests.Count);
        Assert.True(host.Health.TtftEwmaMs("slowmodel") > host.Health.TtftEwmaMs("fastmodel"));
    }
}
