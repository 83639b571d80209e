using CsCheck;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Reliability;

/// <summary>
/// Fuzzing the TOML config loader (issue #21) with CsCheck: the shipped example config damaged at random bytes, with a
/// line given twice, nested past any sensible depth, and with values of the wrong type. Whatever comes, the loader
/// accepts it or throws a <see cref="ConfigException"/> whose every error names the file and the line.
/// </summary>
public sealed class ConfigFuzzTests
{
    private const string File = "/etc/unified-llm/fuzz.toml";

    private static readonly string[] WrongValues =
    [
        "\"text\"", "42", "-1", "3.5", "true", "[1, \"a\"]", "{ a = 1 }", "1979-05-27T07:32:00Z", "inf", "nan", "\"\"",
        "9223372036854775807", "0x7fffffffffffffff", "[]", "{}", "\"\\u0000\"", "'''x'''",
    ];

    [Fact]
    public void Every_damaged_config_loads_or_fails_with_errors_that_name_the_file_and_line()
    {
        var example = System.IO.File.ReadAllLines(RepoPaths.InRepo("packaging", "config.example.toml"));
        var lines = Gen.Int[0, example.Length - 1];
        var randomBytes = Gen.Select(lines, Gen.Int[0, 200], Gen.Char.Array[1, 4], (line, at, chars) =>
            Edit(example, line, l => l.Insert(Math.Min(at, l.Length), new string(chars))));
        var duplicateLine = lines.Select(line => Edit(example, line, l => $"{l}\n{l}"));
        var deepArray = Gen.Select(lines, Gen.Int[1, 3000], (line, depth) =>
            Edit(example, line, l => $"{l}\nnested = {new string('[', depth)}{new string(']', depth)}"));
        var deepTable = Gen.Select(lines, Gen.Int[1, 1500], (line, depth) =>
            Edit(example, line, l => $"{l}\nnested = {string.Concat(Enumerable.Repeat("{ a = ", depth))}1{new string('}', depth)}"));
        var wrongType = Gen.Select(lines, Gen.Int[0, WrongValues.Length - 1], (line, value) =>
            Edit(example, line, l => l.Contains(" = ", StringComparison.Ordinal) ? $"{l[..(l.IndexOf(" = ", StringComparison.Ordinal) + 3)]}{WrongValues[value]}" : l));
        var inputs = SuiteRun.Count(2000);

        Gen.Frequency<string>((3, randomBytes), (2, duplicateLine), (1, deepArray), (1, deepTable), (4, wrongType)).Sample(text =>
        {
            try
            {
                ConfigLoader.Parse(text, File);
            }
            catch (ConfigException e)
            {
                Assert.NotEmpty(e.Errors);
                Assert.All(e.Errors, error =>
                {
                    Assert.Equal(File, error.File);
                    Assert.True(error.Line > 0, $"no line: {error}");
                    Assert.False(string.IsNullOrWhiteSpace(error.Message), error.ToString());
                });
            }
        }, iter: inputs, print: text => text);
        SuiteRun.Record("fuzz.config_loader", $"{inputs}");
    }

    /// <summary>
    /// Found by the fuzzer: Tomlyn's syntax parser threw past the loader instead of reporting (ullmd --check and a start
    /// crashed); then that 64 inline tables under [server] overflow it too, since it counts the table as a level.
    /// </summary>
    [Theory]
    [InlineData("[server]\nx = ", "[", "]", 100)]
    [InlineData("[server]\nx = ", "{ a = ", "}", 100)]
    [InlineData("[server]\nx = ", "{ a = ", "}", 64)]
    public void Nesting_deeper_than_the_parsers_limit_is_a_located_error(string head, string open, string close, int depth)
    {
        var text = $"{head}{string.Concat(Enumerable.Repeat(open, depth))}1{string.Concat(Enumerable.Repeat(close, depth))}\n";

        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(text, File));

        var error = Assert.Single(e.Errors);
        Assert.Equal((File, 2), (error.File, error.Line));
        Assert.Equal("TOML syntax: arrays and inline tables nested too deep (the parser's limit is 64 levels, counting the enclosing tables)", error.Message);
        Assert.Equal(5 + ((depth - 1) * open.Length), error.Column);
    }

    private static string Edit(string[] lines, int index, Func<string, string> edit) =>
        string.Join('\n', lines.Select((l, i) => i == index ? edit(l) : l)) + "\n";
}
