#include "jwtverifier.h"

#include <QDateTime>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMessageAuthenticationCode>

#include <cmath>
#include <cstdlib>
#include <jwt.h>
#include <memory>
#include <optional>

namespace {

struct JwtDeleter {
    void operator()(jwt_t *jwt) const { jwt_free(jwt); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtDeleter>;

struct CharDeleter {
    void operator()(char *p) const { std::free(p); }
};
using CharPtr = std::unique_ptr<char, CharDeleter>;

// A segment of the token as a JSON object (nullopt when it is not base64url JSON).
std::optional<QJsonObject> segmentObject(QByteArrayView segment)
{
    const auto decoded = QByteArray::fromBase64Encoding(
        segment.toByteArray(), QByteArray::Base64UrlEncoding | QByteArray::AbortOnBase64DecodingErrors);
    if (!decoded)
        return std::nullopt;
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(*decoded, &error);
    if (error.error != QJsonParseError::NoError || !doc.isObject())
        return std::nullopt;
    return doc.object();
}

// What is wrong with the header, or empty. The algorithm is pinned to HS256
// here, before libjwt sees the token; a `crit` extension cannot be understood
// (RFC 7515 §4.1.11: reject); libjwt reads `typ` JWT only, so others are named.
QString headerProblem(const QByteArray &token)
{
    const std::optional<QJsonObject> header = segmentObject(QByteArrayView(token).first(token.indexOf('.')));
    if (!header)
        return QStringLiteral("the token header is not base64url-encoded JSON");
    if (header->value(QLatin1String("alg")).toString() != QLatin1String("HS256"))
        return QStringLiteral("the token must be signed with HS256");
    if (header->contains(QLatin1String("crit")))
        return QStringLiteral("the token header lists critical extensions (crit) this server does not support");
    if (header->contains(QLatin1String("typ"))
        && header->value(QLatin1String("typ")).toString().compare(QLatin1String("JWT"), Qt::CaseInsensitive) != 0)
        return QStringLiteral("the token type (typ) must be JWT");
    return {};
}

// Whether the token's HS256 signature is right for `key`: only to name what
// libjwt refused (its verdict stands either way). Compared in constant time.
bool signatureMatches(const QByteArray &token, const QByteArray &key)
{
    const qsizetype lastDot = token.lastIndexOf('.');
    const auto given = QByteArray::fromBase64Encoding(
        token.mid(lastDot + 1), QByteArray::Base64UrlEncoding | QByteArray::AbortOnBase64DecodingErrors);
    const QByteArray expected = QMessageAuthenticationCode::hash(token.left(lastDot), key, QCryptographicHash::Sha256);
    if (!given || given.decoded.size() != expected.size())
        return false;
    unsigned char diff = 0;
    for (qsizetype i = 0; i < expected.size(); ++i)
        diff |= static_cast<unsigned char>(given.decoded.at(i) ^ expected.at(i));
    return diff == 0;
}

// A NumericDate claim (RFC 7519: a JSON number of seconds, possibly fractional).
// jwt_get_grant_int() reads only JSON integers and gives 0 for anything else, so
// the claim is read as JSON text instead.
struct NumericDate {
    bool present = false;
    bool number = false;
    double seconds = 0; // bounded far beyond any real date, so whole seconds fit a qint64

    qint64 floor() const { return qint64(std::floor(seconds)); }
    qint64 ceil() const { return qint64(std::ceil(seconds)); }
};

NumericDate numericGrant(jwt_t *jwt, const char *name)
{
    NumericDate date;
    CharPtr text(jwt_get_grants_json(jwt, name));
    if (!text)
        return date;
    date.present = true;
    // Wrapped in an array: QJsonDocument parses objects and arrays only.
    const QJsonDocument doc = QJsonDocument::fromJson("[" + QByteArray(text.get()) + "]");
    const QJsonValue value = doc.array().at(0);
    if (!value.isDouble() || !std::isfinite(value.toDouble()))
        return date;
    date.number = true;
    constexpr double kBound = 1e15;
    date.seconds = qBound(-kBound, value.toDouble(), kBound);
    return date;
}

} // namespace

JwtVerifier::JwtVerifier(QByteArray key, qint64 leewaySeconds)
    : m_key(std::move(key))
    , m_leeway(qBound<qint64>(0, leewaySeconds, kMaxLeewaySeconds))
{
    Q_ASSERT(!m_key.isEmpty());
}

JwtVerifier::Result JwtVerifier::verify(const QByteArray &token)
{
    return verify(token, QDateTime::currentSecsSinceEpoch());
}

JwtVerifier::Result JwtVerifier::verify(const QByteArray &token, qint64 nowSeconds)
{
    const auto it = m_cache.constFind(token);
    if (it != m_cache.constEnd()) {
        if (nowSeconds <= it->expiresAt + m_leeway)
            return {*it, {}};
        m_cache.erase(it);
        return {std::nullopt, QStringLiteral("the token has expired")};
    }
    Result result = verifyUncached(token, nowSeconds);
    if (result.principal) {
        if (m_cache.size() >= kMaxCacheEntries)
            m_cache.clear(); // crude but bounded; a miss only costs one verification
        m_cache.insert(token, *result.principal);
    }
    return result;
}

JwtVerifier::Result JwtVerifier::verifyUncached(const QByteArray &token, qint64 nowSeconds) const
{
    if (token.size() > kMaxTokenBytes)
        return {std::nullopt, QStringLiteral("the token is longer than %1 bytes").arg(kMaxTokenBytes)};
    if (token.isEmpty() || token.count('.') != 2)
        return {std::nullopt, QStringLiteral("the token is not a JWT")};
    if (const QString problem = headerProblem(token); !problem.isEmpty())
        return {std::nullopt, problem};

    jwt_t *raw = nullptr;
    const int rc = jwt_decode(&raw, token.constData(),
                              reinterpret_cast<const unsigned char *>(m_key.constData()),
                              int(m_key.size()));
    JwtPtr jwt(raw);
    if (rc != 0 || !jwt) {
        if (!signatureMatches(token, m_key))
            return {std::nullopt, QStringLiteral("the token signature is invalid")};
        const qsizetype dot = token.indexOf('.');
        if (!segmentObject(QByteArrayView(token).sliced(dot + 1, token.lastIndexOf('.') - dot - 1)))
            return {std::nullopt, QStringLiteral("the token payload is not base64url-encoded JSON")};
        return {std::nullopt, QStringLiteral("the token's claims cannot be read by the JWT library (numbers must fit "
                                                    "in 64 bits, strings must not hold \\u0000)")};
    }
    if (jwt_get_alg(jwt.get()) != JWT_ALG_HS256)
        return {std::nullopt, QStringLiteral("the token must be signed with HS256")};

    const NumericDate exp = numericGrant(jwt.get(), "exp");
    if (!exp.present)
        return {std::nullopt, QStringLiteral("the token has no exp claim")};
    if (!exp.number)
        return {std::nullopt, QStringLiteral("exp must be a number")};
    if (nowSeconds > exp.floor() + m_leeway)
        return {std::nullopt, QStringLiteral("the token has expired")};
    const NumericDate nbf = numericGrant(jwt.get(), "nbf");
    if (nbf.present && !nbf.number)
        return {std::nullopt, QStringLiteral("nbf must be a number")};
    if (nbf.present && nowSeconds + m_leeway < nbf.ceil())
        return {std::nullopt, QStringLiteral("the token is not valid yet")};

    const char *sub = jwt_get_grant(jwt.get(), "sub");
    const QUuid subject = sub ? QUuid::fromString(QLatin1String(sub)) : QUuid();
    if (subject.isNull())
        return {std::nullopt, QStringLiteral("the token subject must be a customer UUID")};

    Principal principal;
    principal.subject = subject;
    principal.expiresAt = exp.floor();
    CharPtr rolesJson(jwt_get_grants_json(jwt.get(), "roles"));
    if (rolesJson) {
        const QJsonDocument doc = QJsonDocument::fromJson(QByteArray(rolesJson.get()));
        const QJsonArray roles = doc.array();
        for (const QJsonValue &role : roles) {
            if (role.toString() == QLatin1String("SUPPORT"))
                principal.support = true;
        }
    }
    return {principal, {}};
}

QByteArray JwtVerifier::mint(const QByteArray &key, const QUuid &subject, const QStringList &roles,
                             qint64 ttlSeconds, qint64 nowSeconds)
{
    jwt_t *raw = nullptr;
    if (jwt_new(&raw) != 0)
        return {};
    JwtPtr jwt(raw);
    const QByteArray sub = subject.toString(QUuid::WithoutBraces).toLatin1();
    jwt_add_grant(jwt.get(), "sub", sub.constData());
    jwt_add_grant_int(jwt.get(), "iat", long(nowSeconds));
    jwt_add_grant_int(jwt.get(), "nbf", long(nowSeconds));
    jwt_add_grant_int(jwt.get(), "exp", long(nowSeconds + ttlSeconds));
    QJsonObject rolesObject{{QStringLiteral("roles"), QJsonArray::fromStringList(roles)}};
    jwt_add_grants_json(jwt.get(), QJsonDocument(rolesObject).toJson(QJsonDocument::Compact).constData());
    if (jwt_set_alg(jwt.get(), JWT_ALG_HS256, reinterpret_cast<const unsigned char *>(key.constData()),
                    int(key.size()))
        != 0)
        return {};
    CharPtr encoded(jwt_encode_str(jwt.get()));
    return encoded ? QByteArray(encoded.get()) : QByteArray();
}

QByteArray JwtVerifier::readKeyFile(const QString &path, QString *error)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        if (error)
            *error = QStringLiteral("cannot read the secret file %1: %2").arg(path, file.errorString());
        return {};
    }
    constexpr qint64 kMaxKey = 1 << 16;
    QByteArray key = file.read(kMaxKey + 1);
    if (key.size() > kMaxKey) {
        if (error)
            *error = QStringLiteral("the secret file %1 is larger than 64 KiB; a key is a line of random text")
                         .arg(path);
        return {};
    }
    // ASCII whitespace only, as other JWT tools strip a key file (rstrip, trim):
    // bytes like 0xA0 or 0x85 are part of a binary key.
    auto asciiSpace = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
    while (!key.isEmpty() && asciiSpace(key.back()))
        key.chop(1);
    if (key.isEmpty() && error)
        *error = QStringLiteral("the secret file %1 is empty").arg(path);
    return key;
}
