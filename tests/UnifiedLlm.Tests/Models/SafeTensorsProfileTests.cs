using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.SafeTensors;

namespace UnifiedLlm.Tests.Models;

/// <summary>Profiles of SafeTensors model directories: a Qwen2.5-0.5B of real shape, a sharded model, and bad config.json / index files.</summary>
public sealed class SafeTensorsProfileTests : IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public void A_qwen25_half_b_directory_gives_the_hand_computed_profile()
    {
        var model = dir.File("Qwen2.5-0.5B");
        SafeTensorsModels.WriteWhole(model, SafeTensorsModels.Qwen25HalfBConfig, SafeTensorsModels.Qwen25HalfBTensors());

        var profile = SafeTensorsProfileReader.Read(model, CancellationToken.None);

        // Per layer: q 896×896+896, k and v 128×896+128 each, o 896×896, gate/up/down 3×4864×896, two norms of 896
        // = 803,712 + 2×114,816 + 802,816 + 13,074,432 + 1,792 = 14,912,384 parameters, 29,824,768 bytes in BF16.
        // Embeddings 151,936×896 = 136,134,656; final norm 896. Total 24×14,912,384 + 136,134,656 + 896 = 494,032,768.
        Assert.Equal(ModelProfile.SafeTensorsFormat, profile.Format);
        Assert.Equal("qwen2", profile.Architecture);
        Assert.Equal("Qwen2.5-0.5B", profile.Name);
        Assert.Equal(494_032_768UL, profile.ParameterCount);
        Assert.Equal(24, profile.LayerCount);
        Assert.Equal(896UL, profile.EmbeddingLength);
        Assert.Equal(Enumerable.Repeat(14UL, 24), profile.HeadCounts);
        Assert.Equal(Enumerable.Repeat(2UL, 24), profile.KvHeadCounts);
        Assert.Equal(64UL, profile.KeyLength);
        Assert.Equal(64UL, profile.ValueLength);
        Assert.Equal(32_768UL, profile.ContextLength);
        Assert.Equal(151_936UL, profile.VocabSize);
        Assert.False(profile.IsMixtureOfExperts);
        Assert.Null(profile.SlidingWindow);
        Assert.All(profile.SlidingWindowLayers, Assert.False);
        Assert.Equal("BF16", profile.FileType);
        Assert.Equal(Enumerable.Repeat(29_824_768UL, 24), profile.LayerBytes);
        Assert.Equal(272_269_312UL, profile.TokenEmbeddingBytes);
        Assert.True(profile.OutputTiedToEmbeddings);
        Assert.Equal(272_269_312UL + 1_792UL, profile.OutputBytes);
        Assert.Equal(988_065_536UL, profile.TensorBytes);
        Assert.Equal(new FileInfo(Path.Combine(model, "model.safetensors")).Length, profile.FileBytes);
    }

    [Fact]
    public void A_sharded_model_sums_its_shards_and_a_moe_config_sets_the_expert_counts()
    {
        var model = dir.File("small");
        SafeTensorsModels.WriteShardedSmall(model);
        File.WriteAllText(Path.Combine(model, "config.json"), SafeTensorsModels.SmallConfig.Replace("\"vocab_size\": 32,", "\"vocab_size\": 32, \"num_local_experts\": 8, \"num_experts_per_tok\": 2, \"head_dim\": 8,", StringComparison.Ordinal));
        File.WriteAllText(Path.Combine(model, "consolidated.safetensors"), "not part of the model: the index does not name it");

        var profile = SafeTensorsProfileReader.Read(model, CancellationToken.None);

        // Embeddings 32×16 = 512; per layer 256 + 128 + 128 + 256 + 512 + 512 = 1,792; norm 16; lm_head 512: 4,624 F32 parameters.
        Assert.Equal(4_624UL, profile.ParameterCount);
        Assert.Equal([7_168UL, 7_168UL], profile.LayerBytes);
        Assert.Equal(2_048UL, profile.TokenEmbeddingBytes);
        Assert.False(profile.OutputTiedToEmbeddings);
        Assert.Equal(64UL + 2_048UL, profile.OutputBytes);
        Assert.Equal(18_496UL, profile.TensorBytes);
        Assert.Equal(
            new FileInfo(Path.Combine(model, "model-00001-of-00002.safetensors")).Length + new FileInfo(Path.Combine(model, "model-00002-of-00002.safetensors")).Length,
            profile.FileBytes);
        Assert.Equal(8UL, profile.ExpertCount);
        Assert.Equal(2UL, profile.ExpertUsedCount);
        Assert.Equal(8UL, profile.KeyLength);
        Assert.Equal("F32", profile.FileType);
        Assert.Equal([2UL, 2UL], profile.KvHeadCounts);
    }

    [Theory]
    [InlineData("\"num_hidden_layers\": 2,", "", "'num_hidden_layers' is missing")]
    [InlineData("\"hidden_size\": 16,", "\"hidden_size\": \"16\",", "'hidden_size' must be a non-negative integer, not \"16\"")]
    [InlineData("\"vocab_size\": 32,", "\"vocab_size\": 32,,", "not valid JSON (line 2")]
    public void A_bad_config_names_the_key_and_the_file(string replace, string with, string problem)
    {
        var model = dir.File("bad");
        SafeTensorsModels.WriteWhole(model, SafeTensorsModels.SmallConfig.Replace(replace, with, StringComparison.Ordinal), SafeTensorsModels.SmallTensors());
        var config = Path.Combine(model, "config.json");

        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsProfileReader.Read(model, CancellationToken.None));
        Assert.Equal(config, error.FileName);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_config_an_index_naming_the_wrong_shard_and_a_tensor_in_two_files_are_errors()
    {
        var noConfig = dir.File("no-config");
        SafeTensorsModels.WriteShardedSmall(noConfig);
        File.Delete(Path.Combine(noConfig, "config.json"));
        var wrongShard = dir.File("wrong-shard");
        SafeTensorsModels.WriteShardedSmall(wrongShard);
        SafeTensorsWriter.WriteIndex(wrongShard, SafeTensorsModels.SmallTensors().ToDictionary(t => t.Name, _ => "model-00001-of-00002.safetensors"));
        var twice = dir.File("twice");
        SafeTensorsModels.WriteWhole(twice, SafeTensorsModels.SmallConfig, SafeTensorsModels.SmallTensors());
        SafeTensorsWriter.Write(Path.Combine(twice, "extra.safetensors"), [new("lm_head.weight", "F32", 32, 16)]);

        var missing = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsProfileReader.Read(noConfig, CancellationToken.None));
        var wrong = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsProfileReader.Read(wrongShard, CancellationToken.None));
        var duplicate = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsProfileReader.Read(twice, CancellationToken.None));

        Assert.Equal($"{Path.Combine(noConfig, "config.json")}: config.json is missing", missing.Message);
        Assert.Equal(Path.Combine(wrongShard, "model.safetensors.index.json"), wrong.FileName);
        Assert.Contains("names model-00001-of-00002.safetensors, but that shard has no such tensor", wrong.Problem, StringComparison.Ordinal);
        Assert.Equal($"{Path.Combine(twice, "model.safetensors")}: tensor 'lm_head.weight' is also in {Path.Combine(twice, "extra.safetensors")}", duplicate.Message);
    }
}
