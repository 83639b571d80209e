using System.Text;
using UnifiedLlm.Daemon.Models.SafeTensors;

namespace UnifiedLlm.Tests.Models;

/// <summary>The SafeTensors header reader on byte-exact vectors: what it accepts, and the error and offset for each kind of bad header.</summary>
public sealed class SafeTensorsHeaderReaderTests
{
    private const string ValidJson =
        """{"__metadata__":{"format":"pt"},"a":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},"b":{"dtype":"I8","shape":[3],"data_offsets":[8,11]}}""";

    /// <summary>Header length 144 (0x90): the 140-byte JSON above and 4 spaces of padding, then 8 + 3 data bytes.</summary>
    private static byte[] ValidFile() =>
        [0x90, 0, 0, 0, 0, 0, 0, 0, .. Encoding.ASCII.GetBytes(ValidJson), 0x20, 0x20, 0x20, 0x20, .. new byte[11]];

    [Fact]
    public void A_hand_written_file_reads_back_with_its_tensors_in_data_order_and_its_metadata()
    {
        var header = Read(ValidFile());

        Assert.Equal(152, header.DataOffset);
        Assert.Equal(163, header.FileBytes);
        Assert.Equal(["a", "b"], header.Tensors.Select(t => t.Name));
        Assert.Equal(("F16", 0UL, 8UL), (header.Tensors[0].DType, header.Tensors[0].Begin, header.Tensors[0].End));
        Assert.Equal([2UL, 2UL], header.Tensors[0].Shape);
        Assert.Equal(("I8", 8UL, 11UL), (header.Tensors[1].DType, header.Tensors[1].Begin, header.Tensors[1].End));
        Assert.Equal([3UL], header.Tensors[1].Shape);
        Assert.Equal(3UL, header.Tensors[1].ElementCount);
        Assert.Equal(11UL, header.TensorBytes);
        Assert.Equal("pt", header.Metadata["format"]);
    }

    [Fact]
    public void The_test_writer_produces_exactly_the_hand_written_bytes()
    {
        var written = SafeTensorsWriter.ToBytes([new("a", "F16", 2, 2), new("b", "I8", 3)], new Dictionary<string, string> { ["format"] = "pt" });

        Assert.Equal(ValidFile(), written);
    }

    [Theory]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 4, 40, "tensor 'a': data_offsets [0, 8] are outside the 4-byte data area")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,0]}}""", 8, 40, "tensor 'a': data_offsets [4, 0] are outside")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}""", 6, 93, "tensor 'b' overlaps tensor 'a'")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}""", 6, 40, "tensor 'a' leaves a gap of 2 bytes after the header")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 6, 66, "the data area has 6 bytes but the tensors cover only 4")]
    [InlineData("""{"a":{"dtype":"Q4_K","shape":[1],"data_offsets":[0,4]}}""", 4, 22, "tensor 'a': unknown dtype 'Q4_K'")]
    [InlineData("""{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8, 40, "tensor 'a': F32 [3] needs 12 bytes but data_offsets span 8")]
    [InlineData("""{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}""", 4, 9, "overflows a 64-bit size")]
    [InlineData("""{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", 4, 37, "tensor 'a': shape must hold non-negative integers")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{}}""", 4, 62, "'a' appears twice")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}}""", 4, 61, "tensor 'a': unexpected or repeated key 'extra'")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1]}}""", 0, 9, "tensor 'a' has no 'data_offsets'")]
    [InlineData("""{"__metadata__":{"n":1}}""", 0, 29, "'__metadata__.n' must be a string")]
    [InlineData("""[1]""", 0, 8, "the header must be a JSON object")]
    public void A_bad_header_is_rejected_with_the_offset_of_the_offending_field(string json, int dataBytes, long offset, string problem)
    {
        var error = Assert.Throws<SafeTensorsFormatException>(() => Read(WithHeader(json, dataBytes)));

        Assert.Equal("test.safetensors", error.FileName);
        Assert.Contains(problem, error.Problem, StringComparison.Ordinal);
        Assert.Equal(offset, error.Offset);
        Assert.StartsWith($"test.safetensors: at byte {offset}: ", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"a":""")]
    [InlineData("""{"a" 1}""")]
    [InlineData("""{} {}""")]
    [InlineData("""{"a":{"dtype":"F32",}}""")]
    public void Header_text_that_is_not_json_is_rejected_with_an_offset_inside_the_header(string json)
    {
        var error = Assert.Throws<SafeTensorsFormatException>(() => Read(WithHeader(json, 0)));

        Assert.Matches("not valid JSON|ends early|unexpected content", error.Problem);
        Assert.InRange(error.Offset ?? -1, 8, 8 + json.Length);
    }

    [Theory]
    [InlineData(new byte[] { 1, 0, 0 }, "the file is 3 bytes, too short for the 8-byte header length")]
    [InlineData(new byte[] { 0xFF, 0, 0, 0, 0, 0, 0, 0, (byte)'{', (byte)'}' }, "header length 255 runs past the end of the 10-byte file")]
    [InlineData(new byte[] { 0, 0, 0, 0x40, 0, 0, 0, 0, (byte)'{', (byte)'}' }, "header length 1073741824 is larger than the 104857600-byte limit")]
    public void A_header_length_that_cannot_be_right_is_rejected_before_anything_is_allocated(byte[] bytes, string problem)
    {
        var error = Assert.Throws<SafeTensorsFormatException>(() => Read(bytes));

        Assert.Equal(problem, error.Problem);
        Assert.Equal(0, error.Offset);
    }

    [Fact]
    public void A_file_on_disk_is_read_by_path()
    {
        using var dir = new TempDirectory();
        var path = dir.File("model.safetensors");
        File.WriteAllBytes(path, ValidFile());

        var header = SafeTensorsHeaderReader.Read(path, CancellationToken.None);

        Assert.Equal(path, header.Path);
        Assert.Equal(2, header.Tensors.Count);
    }

    private static byte[] WithHeader(string json, int dataBytes)
    {
        var bytes = new byte[8 + json.Length + dataBytes];
        BitConverter.TryWriteBytes(bytes.AsSpan(0, 8), (ulong)json.Length);
        Encoding.ASCII.GetBytes(json).CopyTo(bytes, 8);
        return bytes;
    }

    internal static SafeTensorsHeader Read(byte[] bytes)
    {
        using var stream = new MemoryStream(bytes, writable: false);
        return SafeTensorsHeaderReader.Read(stream, "test.safetensors", CancellationToken.None);
    }

}
