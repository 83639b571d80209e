using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Events;
using UnifiedLlm.Daemon.Routing.Peers;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>
/// Reading a peer's status over real HTTP, from a loopback server playing the peer: fields added within version 1 are
/// read, and a version this ullmd does not know marks the peer as not answering, naming both versions, while what it
/// last reported is kept.
/// </summary>
public sealed class PeerDirectoryTests
{
    [Fact]
    public async Task A_status_of_an_unknown_version_marks_the_peer_silent_and_keeps_its_last_report()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var peer = await FakeUpstream.StartAsync();
        var version = 1;
        peer.Handler = (context, _) => FakeUpstream.WriteJsonAsync(context, new JsonObject
        {
            ["version"] = version,
            ["models"] = new JsonArray(new JsonObject
            {
                ["name"] = "tiny",
                ["aliases"] = new JsonArray("chat"),
                ["backend"] = "llamacpp",
                ["loaded"] = true,
                ["queue_depth"] = 2,
                ["added_later"] = "a field a newer peer may send within version 1",
            }),
            ["gpus"] = new JsonArray(new JsonObject { ["index"] = 0, ["total_bytes"] = 80, ["free_bytes"] = 30 }),
            ["host_available_bytes"] = 1000,
        });
        using var dir = new TempDirectory();
        var keyFile = dir.Write("b.key", "ullm_test_key");
        var toml = $"[peers.b]\nurl = \"{peer.BaseAddress.AbsoluteUri.TrimEnd('/')}\"\napi_key_file = \"{keyFile}\"\n";
        using var config = new ConfigHolder(ConfigLoader.Parse(toml, "peers.toml"), new EventHub(), TimeProvider.System);
        using var directory = new PeerDirectory(config, TimeProvider.System, NullLogger<PeerDirectory>.Instance);

        await directory.RefreshAsync(ct);
        var read = Assert.Single(directory.Views());
        Assert.True(read.Answering, read.Error);
        var model = Assert.Single(read.Status!.Models);
        Assert.Equal(("tiny", true, 2), (model.Name, model.Loaded, model.QueueDepth));
        Assert.Equal(30UL, read.Status.Room);
        Assert.Equal("Bearer ullm_test_key", Assert.Single(peer.Requests).Headers["Authorization"]);
        Assert.Equal("/ullm/peer/v1/status", Assert.Single(peer.Requests).Path);

        version = 2;
        await directory.RefreshAsync(ct);
        var silent = Assert.Single(directory.Views());
        Assert.False(silent.Answering);
        Assert.Equal("it reports status version 2; this ullmd reads version 1", silent.Error);
        Assert.Same(read.Status, silent.Status);
        Assert.Equal(read.ReadAt, silent.ReadAt);
    }
}
