using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Tests.Config;

/// <summary>A vLLM model split over nodes: pipeline_parallel_size with ray_address, and each mistake named with its key and line.</summary>
public sealed class VllmClusterConfigTests
{
    private const string Model = "[backends.vllm]\nenabled = true\n\n[models.big]\nbackend = \"vllm\"\nsource = \"/models/big\"\n";

    [Fact]
    public void Pipeline_stages_and_the_ray_head_are_read_together_and_a_model_without_them_stays_on_this_host()
    {
        var split = ConfigLoader.Parse(Model + "pipeline_parallel_size = 2\nray_address = \"127.0.0.9:6379\"\n", "c.toml").Models["big"];
        var auto = ConfigLoader.Parse(Model + "pipeline_parallel_size = 4\nray_address = \"auto\"\n", "c.toml").Models["big"];

        Assert.Equal(new VllmCluster(2, "127.0.0.9:6379"), split.Cluster);
        Assert.Equal(new VllmCluster(4, "auto"), auto.Cluster);
        Assert.Null(ConfigLoader.Parse(Model, "c.toml").Models["big"].Cluster);
        Assert.Null(ConfigLoader.Parse(Model + "pipeline_parallel_size = 1\n", "c.toml").Models["big"].Cluster);
    }

    [Theory]
    [InlineData(Model + "pipeline_parallel_size = 2\n", "models.big", 4)]
    [InlineData(Model + "ray_address = \"127.0.0.9:6379\"\n", "models.big.ray_address", 7)]
    [InlineData(Model + "pipeline_parallel_size = 2\nray_address = \"ray://head\"\n", "models.big.ray_address", 8)]
    [InlineData(Model + "pipeline_parallel_size = 65\n", "models.big.pipeline_parallel_size", 7)]
    [InlineData(Model + "extra_args = [\"--pipeline-parallel-size\", \"2\"]\n", "models.big.extra_args", 7)]
    [InlineData(Model + "extra_args = [\"--distributed-executor-backend=ray\"]\n", "models.big.extra_args", 7)]
    [InlineData("[models.small]\nbackend = \"llamacpp\"\nsource = \"/m.gguf\"\npipeline_parallel_size = 2\n", "models.small.pipeline_parallel_size", 4)]
    public void A_mistake_is_named_with_its_key_and_line(string toml, string keyPath, int line)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(toml, "bad.toml"));

        var error = Assert.Single(e.Errors);
        Assert.Equal((keyPath, line), (error.KeyPath, error.Line));
    }
}
