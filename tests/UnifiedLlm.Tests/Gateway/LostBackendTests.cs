using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>
/// A request that finds its local backend gone (its port refuses the connection) before the scheduler has marked it
/// failed: the client is told why the backend was lost, not only that the connection was refused.
/// </summary>
public sealed class LostBackendTests
{
    private const string Lost = "tiny: backend exited: rpc worker 'b' (127.0.0.3:50052): does not answer";

    [Fact]
    public async Task The_error_names_why_the_backend_was_lost_when_its_port_refuses_the_connection()
    {
        var lost = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lost.SetResult(Lost);
        using var refusing = new RefusingPort();
        using var models = new StaticModelEndpoints();
        models.Serve("tiny", refusing.Uri, "tiny.gguf", lost: lost.Task);
        await using var host = await GatewayHost.StartAsync("", models);

        var (status, body, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("tiny")));

        Assert.Equal(502, status);
        Assert.Equal(Lost, body.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal(0, models.HeldLeases);
    }

    [Fact]
    public async Task A_refused_connection_to_a_backend_not_marked_lost_keeps_its_own_error()
    {
        using var refusing = new RefusingPort();
        using var models = new StaticModelEndpoints();
        models.Serve("tiny", refusing.Uri, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);

        var (status, body, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("tiny")));

        Assert.Equal(502, status);
        Assert.Equal("tiny: cannot connect: connection refused", body.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task A_dropped_connection_is_not_taken_for_a_lost_backend()
    {
        await using var backend = await FakeUpstream.StartAsync();
        var lost = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lost.SetResult(Lost);
        backend.Handler = (c, _) =>
        {
            c.Abort();
            return Task.CompletedTask;
        };
        using var models = new StaticModelEndpoints();
        models.Serve("tiny", backend.BaseAddress, "tiny.gguf", lost: lost.Task);
        await using var host = await GatewayHost.StartAsync("", models);

        var (status, body, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("tiny")));

        Assert.Equal(502, status);
        Assert.StartsWith("tiny: cannot connect", body.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }
}
