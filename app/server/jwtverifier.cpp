#include "jwtverifier.h"

#include <QDateTime>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <cerrno>
#include <cstdlib>
#include <jwt.h>
#include <memory>

namespace {

struct JwtDeleter {
    void operator()(jwt_t *jwt) const { jwt_free(jwt); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtDeleter>;

struct CharDeleter {
    void operator()(char *p) const { std::free(p); }
};
using CharPtr = std::unique_ptr<char, CharDeleter>;

// The header segment, decoded, must name exactly HS256.
bool headerIsHs256(const QByteArray &token)
{
    const qsizetype dot = token.indexOf('.');
    if (dot <= 0)
        return false;
    const auto decoded = QByteArray::fromBase64Encoding(
        token.left(dot), QByteArray::Base64UrlEncoding | QByteArray::AbortOnBase64DecodingErrors);
    if (!decoded)
        return false;
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(*decoded, &error);
    if (error.error != QJsonParseError::NoError || !doc.isObject())
        return false;
    return doc.object().value(QLatin1String("alg")).toString() == QLatin1String("HS256");
}

std::optional<qint64> intGrant(jwt_t *jwt, const char *name)
{
    errno = 0;
    const long value = jwt_get_grant_int(jwt, name);
    if (errno != 0)
        return std::nullopt;
    return qint64(value);
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
    if (token.isEmpty() || token.size() > 8192 || token.count('.') != 2)
        return {std::nullopt, QStringLiteral("the token is not a JWT")};
    if (!headerIsHs256(token))
        return {std::nullopt, QStringLiteral("the token must be signed with HS256")};

    jwt_t *raw = nullptr;
    const int rc = jwt_decode(&raw, token.constData(),
                              reinterpret_cast<const unsigned char *>(m_key.constData()),
                              int(m_key.size()));
    JwtPtr jwt(raw);
    if (rc != 0 || !jwt)
        return {std::nullopt, QStringLiteral("the token signature is invalid")};
    if (jwt_get_alg(jwt.get()) != JWT_ALG_HS256)
        return {std::nullopt, QStringLiteral("the token must be signed with HS256")};

    const auto exp = intGrant(jwt.get(), "exp");
    if (!exp)
        return {std::nullopt, QStringLiteral("the token has no exp claim")};
    if (nowSeconds > *exp + m_leeway)
        return {std::nullopt, QStringLiteral("the token has expired")};
    if (const auto nbf = intGrant(jwt.get(), "nbf"); nbf && nowSeconds + m_leeway < *nbf)
        return {std::nullopt, QStringLiteral("the token is not valid yet")};

    const char *sub = jwt_get_grant(jwt.get(), "sub");
    const QUuid subject = sub ? QUuid::fromString(QLatin1String(sub)) : QUuid();
    if (subject.isNull())
        return {std::nullopt, QStringLiteral("the token subject must be a customer UUID")};

    Principal principal;
    principal.subject = subject;
    principal.expiresAt = *exp;
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
    QByteArray key = file.read(1 << 16);
    while (!key.isEmpty() && QChar::isSpace(uchar(key.back())))
        key.chop(1);
    if (key.isEmpty() && error)
        *error = QStringLiteral("the secret file %1 is empty").arg(path);
    return key;
}
