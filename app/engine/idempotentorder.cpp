#include "idempotentorder.h"

#include <QCryptographicHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

namespace {

// Fixed for all time: changing it would give every key a new order.
const QByteArray kNamespace = QByteArrayLiteral("saga-console/orders/idempotency-key/v1");

} // namespace

bool IdempotentOrder::isValidKey(const QByteArray &key)
{
    if (key.isEmpty() || key.size() > 255)
        return false;
    for (const char c : key) {
        if (uchar(c) < 0x20 || uchar(c) > 0x7e)
            return false;
    }
    return true;
}

QUuid IdempotentOrder::orderId(const QUuid &customerId, const QString &key)
{
    QCryptographicHash hash(QCryptographicHash::Sha256);
    hash.addData(kNamespace);
    hash.addData(customerId.toRfc4122());
    hash.addData(key.toUtf8());
    QByteArray bytes = hash.result().left(16);
    bytes[6] = char(0x80 | (uchar(bytes[6]) & 0x0f)); // version 8
    bytes[8] = char(0x80 | (uchar(bytes[8]) & 0x3f)); // RFC 4122 variant
    return QUuid::fromRfc4122(bytes);
}

QString IdempotentOrder::requestDigest(const OrderRequest &request)
{
    QJsonArray items;
    for (const OrderItem &item : request.items)
        items.append(QJsonArray{item.productId, item.productName, QString::number(item.quantity),
                                QString::number(item.unitPriceInCents)});
    const ShippingAddress &a = request.shippingAddress;
    const QJsonArray canonical{request.customerId.toString(QUuid::WithoutBraces), items, request.paymentMethodId,
                               QJsonArray{a.street, a.city, a.state, a.postalCode, a.country}};
    return QString::fromLatin1(
        QCryptographicHash::hash(QJsonDocument(canonical).toJson(QJsonDocument::Compact), QCryptographicHash::Sha256)
            .toHex());
}

bool IdempotentOrder::isKeyedId(const QUuid &id)
{
    return (id.data3 >> 12) == 8 && id.variant() == QUuid::DCE; // (QUuid::version() knows 1..5 only)
}
