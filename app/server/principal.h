#pragma once

#include <QUuid>

// Who is calling: the verified claims of a bearer token.
struct Principal {
    QUuid subject;        // `sub`: the customer id
    bool support = false; // `roles` holds SUPPORT
    qint64 expiresAt = 0; // `exp`, seconds since the epoch

    // Owners see their own orders; SUPPORT sees every order.
    bool mayAccess(const QUuid &customerId) const { return support || (!subject.isNull() && subject == customerId); }
};
