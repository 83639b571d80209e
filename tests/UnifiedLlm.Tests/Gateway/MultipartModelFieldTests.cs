using System.Text;
using UnifiedLlm.Daemon.Gateway;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>Finding the model form field at the start of a multipart/form-data body, however the body arrives.</summary>
public sealed class MultipartModelFieldTests
{
    private const string Boundary = "----b0undary";

    private static string Part(string disposition, string value) =>
        $"--{Boundary}\r\nContent-Disposition: form-data; {disposition}\r\n\r\n{value}\r\n";

    private static byte[] Body(params string[] parts) => Encoding.UTF8.GetBytes(string.Concat(parts) + $"--{Boundary}--\r\n");

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(4096)]
    public async Task The_model_is_found_after_other_fields_and_a_small_file_however_the_body_is_cut(int chunk)
    {
        var body = Body(
            Part("name=\"language\"", "en"),
            Part("name=\"file\"; filename=\"model\"", "not the model\r\n--almost a boundary"),
            Part("name=\"model\"", "whisper-ü"),
            Part("name=\"response_format\"", "text"));

        var field = await MultipartModelField.ReadAsync(new Trickle(body, chunk), Boundary, 1 << 20, TestContext.Current.CancellationToken);

        Assert.Equal("whisper-ü", field.Model);
        Assert.Equal("whisper-ü", Encoding.UTF8.GetString(field.Prefix, field.ValueStart, field.ValueEnd - field.ValueStart));
        Assert.Equal(body.AsSpan(0, field.Length).ToArray(), field.Prefix.AsSpan(0, field.Length).ToArray());
    }

    [Fact]
    public async Task A_body_without_the_field_and_one_with_it_too_late_or_empty_are_refused_naming_it()
    {
        var ct = TestContext.Current.CancellationToken;
        var none = await Assert.ThrowsAsync<GatewayException>(() =>
            MultipartModelField.ReadAsync(new MemoryStream(Body(Part("name=\"file\"; filename=\"a.wav\"", "xx"))), Boundary, 1 << 20, ct));
        Assert.Equal("'model': is required: the multipart body has no 'model' form field", none.Message);

        var late = await Assert.ThrowsAsync<GatewayException>(() =>
            MultipartModelField.ReadAsync(new MemoryStream(Body(Part("name=\"file\"; filename=\"a.wav\"", new string('x', 5000)), Part("name=model", "m"))), Boundary, 1024, ct));
        Assert.Equal("'model': was not found in the first 1024 bytes of the multipart body: send the 'model' field before the file", late.Message);

        var empty = await Assert.ThrowsAsync<GatewayException>(() => MultipartModelField.ReadAsync(new MemoryStream(Body(Part("name=model", ""))), Boundary, 1 << 20, ct));
        Assert.Equal("'model': must be a non-empty form field", empty.Message);
        Assert.Equal(400, empty.StatusCode);
    }

    [Theory]
    [InlineData("multipart/form-data; boundary=\"----b0undary\"", "----b0undary")]
    [InlineData("Multipart/Form-Data; charset=utf-8; boundary=abc", "abc")]
    public void The_boundary_comes_from_the_content_type(string contentType, string boundary) =>
        Assert.Equal(boundary, MultipartModelField.Boundary(contentType));

    [Theory]
    [InlineData("application/json")]
    [InlineData("multipart/form-data")]
    [InlineData(null)]
    public void Another_content_type_or_a_missing_boundary_is_a_400_naming_the_header(string? contentType)
    {
        var e = Assert.Throws<GatewayException>(() => MultipartModelField.Boundary(contentType));
        Assert.Equal((400, "Content-Type"), (e.StatusCode, e.Param));
    }

    /// <summary>A stream that hands out at most <paramref name="chunk"/> bytes per read, as a slow network might.</summary>
    private sealed class Trickle(byte[] data, int chunk) : MemoryStream(data)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(chunk, buffer.Length)], cancellationToken);
    }
}
