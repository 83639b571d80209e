namespace UnifiedLlm.Admin.V1;

/// <summary>
/// The certificates a doctor run checks, as both <c>ullmctl doctor</c> and <c>ullmd --doctor</c> take them: each
/// <c>--cert</c> file with the <c>--key</c> file at the same position (keys may be fewer), read as the caller.
/// </summary>
public static class DoctorCertificates
{
    /// <exception cref="ArgumentException">More keys than certificates: the sentence says which belongs to which.</exception>
    /// <exception cref="IOException">A file cannot be read (its message names it).</exception>
    /// <exception cref="UnauthorizedAccessException">A file the caller may not read.</exception>
    public static async Task<IReadOnlyList<DoctorCertificate>> ReadAsync(IReadOnlyList<string> certificates, IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        if (keys.Count > certificates.Count)
        {
            throw new ArgumentException($"{keys.Count} --key for {certificates.Count} --cert: each --key belongs to the --cert at its position");
        }

        var read = new List<DoctorCertificate>();
        for (var i = 0; i < certificates.Count; i++)
        {
            var certificate = new DoctorCertificate { Name = certificates[i], CertificatePem = await File.ReadAllTextAsync(certificates[i], cancellationToken).ConfigureAwait(false) };
            if (i < keys.Count)
            {
                certificate.KeyName = keys[i];
                certificate.KeyPem = await File.ReadAllTextAsync(keys[i], cancellationToken).ConfigureAwait(false);
            }

            read.Add(certificate);
        }

        return read;
    }
}
