using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace PgMultiMaster.IntegrationTests.Harness;

/// <summary>
/// A throwaway certificate authority made by the tests: a server certificate for 127.0.0.1 and a client certificate
/// per role (the server checks its CN against the user name, <c>clientcert=verify-full</c>), as PEM files.
/// </summary>
public sealed class TestCertificates
{
    private readonly X509Certificate2 _ca;
    private readonly ECDsa _caKey;

    public string Directory { get; }

    /// <summary>The CA's certificate: what a client trusts (<c>Root Certificate</c>) and the server checks clients by.</summary>
    public string CaFile => Path.Combine(Directory, "ca.crt");

    public string CaPem { get; }

    private TestCertificates(string directory, X509Certificate2 ca, ECDsa caKey)
    {
        Directory = directory;
        _ca = ca;
        _caKey = caKey;
        CaPem = ca.ExportCertificatePem();
        File.WriteAllText(CaFile, CaPem);
    }

    public static TestCertificates Create(string directory, string name = "pgmm test CA")
    {
        System.IO.Directory.CreateDirectory(directory);
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        return new TestCertificates(directory, ca, key);
    }

    /// <summary>The server's certificate and key (PEM), valid for 127.0.0.1 and localhost.</summary>
    public (string CertificatePem, string KeyPem) IssueServer()
    {
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        return Issue("127.0.0.1", san.Build(), serverAuth: true);
    }

    /// <summary>A client certificate for <paramref name="role"/>, written as files once; returns their paths.</summary>
    public (string CertificateFile, string KeyFile) IssueClientFiles(string role)
    {
        var certificateFile = Path.Combine(Directory, $"{role}.crt");
        var keyFile = Path.Combine(Directory, $"{role}.key");
        // Connections opened at once must not read a certificate and a key written for two different issues.
        lock (_issued)
        {
            if (_issued.Add(role))
            {
                var (certificate, key) = Issue(role, null, serverAuth: false);
                File.WriteAllText(certificateFile, certificate);
                File.WriteAllText(keyFile, key);
                if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
        }
        return (certificateFile, keyFile);
    }

    private readonly HashSet<string> _issued = [];

    private (string CertificatePem, string KeyPem) Issue(string commonName, X509Extension? san, bool serverAuth)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(serverAuth ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_ca, true, false));
        if (san is not null) request.CertificateExtensions.Add(san);
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var certificate = request.Create(_ca.SubjectName, X509SignatureGenerator.CreateForECDsa(_caKey),
            DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30), serial);
        return (certificate.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }
}
