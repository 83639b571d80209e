using UnifiedLlm.Daemon.Backends.Rpc;
using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Tests.Config;

/// <summary>[rpc_worker], [rpc_workers.NAME] and [rpc_head]: what they set, their defaults, and each mistake named with its key and line.</summary>
public sealed class RpcConfigTests
{
    [Fact]
    public void A_worker_role_becomes_ggml_rpc_server_argv_and_head_tables_name_their_workers()
    {
        var config = ConfigLoader.Parse("""
            [rpc_worker]
            listen = "10.0.0.5:50052"
            devices = ["CUDA0", "CUDA1"]
            threads = 8
            cache = true

            [rpc_workers.a]
            address = "gpu2.lan:50052"

            [rpc_workers.b]
            address = "10.0.0.6:50053"
            poll_interval_seconds = 1
            memory_limit_mib = 2048

            [rpc_head]
            host_memory_mib = 512
            """, "rpc.toml");

        var role = config.RpcWorker!;
        Assert.Equal(("10.0.0.5", 50052), (role.ListenHost, role.ListenPort));
        Assert.Equal("ggml-rpc-server", role.Executable);
        Assert.Equal(["-H", "10.0.0.5", "-p", "50052", "-d", "CUDA0,CUDA1", "-t", "8", "-c"], RpcWorkerArguments.Build(role));
        Assert.Equal(("gpu2.lan", 50052, TimeSpan.FromSeconds(5), (ulong?)null), (config.RpcWorkers["a"].Host, config.RpcWorkers["a"].Port, config.RpcWorkers["a"].PollInterval, config.RpcWorkers["a"].MemoryLimitBytes));
        Assert.Equal(("10.0.0.6:50053", TimeSpan.FromSeconds(1), (ulong?)(2048UL << 20)), (config.RpcWorkers["b"].Address, config.RpcWorkers["b"].PollInterval, config.RpcWorkers["b"].MemoryLimitBytes));
        Assert.Equal(512UL << 20, config.RpcHead.HostMemoryBytes);

        var plain = ConfigLoader.Parse("[rpc_worker]\nlisten = \"127.0.0.2:50052\"\n", "plain.toml");
        Assert.Equal(["-H", "127.0.0.2", "-p", "50052"], RpcWorkerArguments.Build(plain.RpcWorker!));
        Assert.Null(ConfigLoader.Parse("", "empty.toml").RpcWorker);
        Assert.Empty(ConfigLoader.Parse("", "empty.toml").RpcWorkers);
    }

    [Theory]
    [InlineData("[rpc_worker]\ndevices = [\"CPU\"]\n", "rpc_worker", 1)]
    [InlineData("[rpc_worker]\nlisten = \"gpu2:50052\"\n", "rpc_worker.listen", 2)]
    [InlineData("[rpc_worker]\nlisten = \"[::1]:50052\"\n", "rpc_worker.listen", 2)]
    [InlineData("[rpc_worker]\nlisten = \"10.0.0.5:50052\"\ndevices = [\"CUDA0,CUDA1\"]\n", "rpc_worker.devices", 3)]
    [InlineData("[rpc_worker]\nlisten = \"10.0.0.5:50052\"\nexecutable = \"bin/rpc\"\n", "rpc_worker.executable", 3)]
    [InlineData("[rpc_worker]\nlisten = \"10.0.0.5:50052\"\nthreads = 0\n", "rpc_worker.threads", 3)]
    [InlineData("[rpc_worker]\nlisten = \"10.0.0.5:50052\"\nport = 1\n", "rpc_worker.port", 3)]
    [InlineData("[rpc_workers.a]\naddress = \"a.lan\"\n", "rpc_workers.a.address", 2)]
    [InlineData("[rpc_workers.a]\naddress = \"a.lan:0\"\n", "rpc_workers.a.address", 2)]
    [InlineData("[rpc_workers.a]\n", "rpc_workers.a", 1)]
    [InlineData("[rpc_workers.a]\naddress = \"a.lan:1\"\n[rpc_workers.b]\naddress = \"a.lan:1\"\n", "rpc_workers.b.address", 4)]
    [InlineData("[rpc_workers.a]\naddress = \"a.lan:1\"\nmemory_limit_mib = 0\n", "rpc_workers.a.memory_limit_mib", 3)]
    [InlineData("[rpc_workers.\"a b\"]\naddress = \"a.lan:1\"\n", "rpc_workers.\"a b\"", 1)]
    [InlineData("[rpc_head]\nhost_memory_mib = -1\n", "rpc_head.host_memory_mib", 2)]
    public void A_mistake_is_named_with_its_key_and_line(string toml, string keyPath, int line)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(toml, "bad.toml"));

        var error = Assert.Single(e.Errors);
        Assert.Equal((keyPath, line), (error.KeyPath, error.Line));
        Assert.Equal("bad.toml", error.File);
    }

    [Fact]
    public void A_worker_added_or_changed_is_named_by_a_reload()
    {
        var before = ConfigLoader.Parse("[rpc_workers.a]\naddress = \"a.lan:1\"\n", "a.toml");
        var after = ConfigLoader.Parse("[rpc_workers.a]\naddress = \"a.lan:2\"\n[rpc_workers.b]\naddress = \"b.lan:1\"\n[rpc_worker]\nlisten = \"10.0.0.5:1\"\n", "a.toml");

        Assert.Equal(
            ["rpc worker 'b' added", "rpc worker 'a' changed", "rpc_worker changed: ggml-rpc-server keeps its old settings until ullmd restarts"],
            ConfigDiff.Describe(before, after));
    }
}
