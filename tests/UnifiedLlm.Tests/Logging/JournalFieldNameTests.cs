using UnifiedLlm.Daemon.Logging;

namespace UnifiedLlm.Tests.Logging;

public sealed class JournalFieldNameTests
{
    [Theory]
    [InlineData("MESSAGE")]
    [InlineData("ULLM_REQUEST_ID")]
    [InlineData("A")]
    [InlineData("CODE_LINE2")]
    [InlineData("A234567890123456789012345678901234567890123456789012345678901234")]
    public void Valid_names_are_accepted(string name) => Assert.True(JournalFieldName.IsValid(name));

    [Theory]
    [InlineData("")]
    [InlineData("_PID")]
    [InlineData("2FAST")]
    [InlineData("message")]
    [InlineData("ULLM-MODEL")]
    [InlineData("ÄRGER")]
    [InlineData("A2345678901234567890123456789012345678901234567890123456789012345")]
    public void Invalid_names_are_refused(string name) => Assert.False(JournalFieldName.IsValid(name));

    [Theory]
    [InlineData("RequestId", "", "REQUEST_ID")]
    [InlineData("RequestId", "ULLM_", "ULLM_REQUEST_ID")]
    [InlineData("requestId", "ULLM_", "ULLM_REQUEST_ID")]
    [InlineData("HTTPStatus", "ULLM_", "ULLM_HTTP_STATUS")]
    [InlineData("GpuIndex2", "ULLM_", "ULLM_GPU_INDEX2")]
    [InlineData("gpu.index", "ULLM_", "ULLM_GPU_INDEX")]
    [InlineData("_private__name_", "ULLM_", "ULLM_PRIVATE_NAME")]
    [InlineData("VRAM", "ULLM_", "ULLM_VRAM")]
    [InlineData("model-name x", "ULLM_", "ULLM_MODEL_NAME_X")]
    [InlineData("Model", "ULLM_", "ULLM_MODEL")]
    [InlineData("2fast", "ULLM_", "ULLM_2FAST")]
    public void Property_names_map_to_upper_snake_case(string property, string prefix, string expected) =>
        Assert.Equal(expected, JournalFieldName.FromPropertyName(property, prefix));

    [Theory]
    [InlineData("2fast", "")]
    [InlineData("___", "ULLM_")]
    [InlineData("ÄÖÜ", "ULLM_")]
    [InlineData("Größe", "ULLM_")]
    [InlineData("", "ULLM_")]
    [InlineData("AVeryLongPropertyNameThatWillNeverFitIntoTheSixtyFourCharacterLimit", "ULLM_")]
    public void Unmappable_property_names_are_dropped(string property, string prefix) =>
        Assert.Null(JournalFieldName.FromPropertyName(property, prefix));
}
