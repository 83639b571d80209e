using UnifiedLlm.Daemon.Models.Gguf;

namespace UnifiedLlm.Tests.Models;

public sealed class GgufSplitTests
{
    [Fact]
    public void Any_part_of_a_split_model_reads_all_parts_and_totals_the_tensors()
    {
        using var dir = new TempDirectory();
        WriteSplit(dir, parts: 3, tensorsDeclared: 3);

        var fromFirst = GgufModelReader.Read(dir.File("m-00001-of-00003.gguf"), CancellationToken.None);
        var fromLast = GgufModelReader.Read(dir.File("m-00003-of-00003.gguf"), CancellationToken.None);

        Assert.Equal(3, fromFirst.Parts.Count);
        Assert.Equal(["t0", "t1", "t2"], fromFirst.Tensors.Select(t => t.Name));
        // part i holds one F32 tensor of 256 * (i + 1) elements: (256 + 512 + 768) * 4 bytes
        Assert.Equal(6144UL, fromFirst.TensorBytes);
        Assert.Equal(fromFirst.TensorBytes, fromLast.TensorBytes);
        Assert.Equal("llama", fromLast.Metadata.GetString("general.architecture"));
        Assert.Equal(Enumerable.Range(1, 3).Sum(i => new FileInfo(dir.File($"m-0000{i}-of-00003.gguf")).Length), fromFirst.FileBytes);
    }

    [Fact]
    public void A_missing_part_is_named()
    {
        using var dir = new TempDirectory();
        WriteSplit(dir, parts: 3, tensorsDeclared: 3);
        File.Delete(dir.File("m-00002-of-00003.gguf"));

        var error = Assert.Throws<GgufFormatException>(() => GgufModelReader.Read(dir.File("m-00001-of-00003.gguf"), CancellationToken.None));

        Assert.Contains("split part 2 of 3 is missing", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_wrong_tensor_total_is_rejected()
    {
        using var dir = new TempDirectory();
        WriteSplit(dir, parts: 2, tensorsDeclared: 5);

        var error = Assert.Throws<GgufFormatException>(() => GgufModelReader.Read(dir.File("m-00001-of-00002.gguf"), CancellationToken.None));

        Assert.Contains("split.tensors.count is 5 but the parts hold 2 tensors", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_single_file_model_has_one_part()
    {
        using var dir = new TempDirectory();
        var w = new GgufWriter();
        w.AddTensor("t", GgmlType.F16, [32], new byte[64]);
        w.WriteFile(dir.File("single.gguf"));

        var model = GgufModelReader.Read(dir.File("single.gguf"), CancellationToken.None);

        Assert.Single(model.Parts);
        Assert.Equal(64UL, model.TensorBytes);
    }

    private static void WriteSplit(TempDirectory dir, int parts, int tensorsDeclared)
    {
        for (var i = 0; i < parts; i++)
        {
            var w = new GgufWriter();
            if (i == 0)
            {
                w.Add("general.architecture", GgufValue.FromString("llama"));
            }

            w.Add("split.no", GgufValue.FromUInt16((ushort)i));
            w.Add("split.count", GgufValue.FromUInt16((ushort)parts));
            w.Add("split.tensors.count", GgufValue.FromInt32(tensorsDeclared));
            w.AddTensor($"t{i}", GgmlType.F32, [(ulong)(256 * (i + 1))], null);
            w.WriteFile(GgufModelReader.PartPath(Path.Combine(dir.Path, "m"), i + 1, parts));
        }
    }
}
