#pragma once

// An order placed with an Idempotency-Key: its id and the digest of its request.
//
// The id is a name-based UUID (version 8, RFC 9562, SHA-256) of the customer id
// and the key, so the same key of the same customer names the same order on
// every engine sharing the database, and the orders table's primary key is what
// makes the order unique: no column, no index, no table of keys. The first
// commit that writes the order also makes the key's effect durable. Such ids are
// not time-ordered (timeorderedid.h): a keyed order's rows land anywhere in the
// id indexes, as random ids did; lists and cursors order by created_at first and
// use the id only to break ties, so nothing else depends on it. Orders without a
// key keep their version-7 ids.
//
// The digest (hex SHA-256 of the customer, items, payment method and shipping
// address as first sent) is recorded in the order's SAGA_STARTED details
// (requestDigest, with the key as idempotencyKey): a retry may correct the
// order's payment method or address, so the stored order no longer says what
// the request was.

#include "orderrecord.h"

#include <QString>
#include <QUuid>

class IdempotentOrder
{
public:
    // Whether `key` may be an Idempotency-Key: 1..255 printable ASCII characters.
    static bool isValidKey(const QByteArray &key);
    static QUuid orderId(const QUuid &customerId, const QString &key);
    static QString requestDigest(const OrderRequest &request);
    // Whether a uuid is one orderId() makes (version 8).
    static bool isKeyedId(const QUuid &id);
};
