using UnifiedLlm.Daemon.Backends;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Tests.Backends;

/// <summary>A generic backend's command and env get the load's values; it sees only the plan's GPUs.</summary>
public sealed class GenericCommandLineTests
{
    private const string Config = """
        [backends.tgi]
        kind = "generic"
        command = ["/usr/bin/text-generation-launcher", "--model-id", "${MODEL_PATH}", "--hostname", "${HOST}", "--port", "${PORT}",
                   "--max-total-tokens", "${CTX}", "--served-model-name", "${MODEL_NAME}", "--gpus=${GPUS}"]
        env = { HF_HUB_OFFLINE = "1", TGI_PORT = "${PORT}" }
        health = "/ready"
        health_status = 204
        ready_timeout_seconds = 90
        api_prefix = "/"
        endpoints = ["chat", "rerank"]
        max_loaded = 2

        [models.mistral]
        backend = "tgi"
        source = "/srv/models/mistral"
        context = 8192
        memory_mib = 2048
        gpu_memory_mib = 20000
        gpu_count = 2
        extra_args = ["--quantize", "awq"]
        """;

    [Fact]
    public void The_config_binds_every_key_of_a_generic_backend_and_its_model()
    {
        var config = ConfigLoader.Parse(Config, "g.toml");
        var model = config.Models["mistral"];
        var backend = config.Backends.For(model);
        var generic = backend.Generic!;

        Assert.Equal(BackendKind.Generic, model.Backend);
        Assert.Equal("tgi", model.BackendKey);
        Assert.Equal(new DeclaredFootprint(2048UL << 20, 20000UL << 20, 2), model.Declared);
        Assert.Equal("/usr/bin/text-generation-launcher", backend.Executable);
        Assert.Equal(2, backend.MaxLoaded);
        Assert.Equal(("/ready", 204, TimeSpan.FromSeconds(90), "/"), (generic.HealthPath, generic.HealthStatus, generic.ReadyTimeout, generic.ApiPrefix));
        Assert.Equal(ServedEndpoints.Chat | ServedEndpoints.Rerank, generic.Endpoints);
    }

    [Fact]
    public void Placeholders_are_filled_from_the_model_and_the_plan_and_only_the_plans_gpus_are_visible()
    {
        var config = ConfigLoader.Parse(Config, "g.toml");
        var model = config.Models["mistral"];
        var estimate = new LlamaCppMemoryEstimate("mistral", 8192, GgmlType.F16, 0, 0, [], 2048UL << 20, 0, 0);
        var start = new BackendStart(model, new LoadPlan([3, 1], null, 0, 8192, estimate, []), config.Backends.For(model), "ullm-mistral-1.service");

        var launch = GenericCommandLine.Build(start, config.Backends.For(model).Generic!, 41234);

        Assert.Equal("/usr/bin/text-generation-launcher", launch.ExecPath);
        Assert.Equal(
            ["--model-id", "/srv/models/mistral", "--hostname", "127.0.0.1", "--port", "41234", "--max-total-tokens", "8192",
             "--served-model-name", "mistral", "--gpus=3,1", "--quantize", "awq"],
            launch.Arguments);
        Assert.Equal("41234", launch.Environment["TGI_PORT"]);
        Assert.Equal("1", launch.Environment["HF_HUB_OFFLINE"]);
        Assert.Equal("3,1", launch.Environment["CUDA_VISIBLE_DEVICES"]);
        Assert.Equal([3, 1], launch.GpuIndices);
        Assert.Equal(["/srv/models/mistral"], launch.ReadOnlyPaths);
        Assert.Equal(BackendMemoryLimit.For(start.Plan), launch.MemoryMaxBytes);
    }
}
