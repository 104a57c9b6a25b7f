#include "retrydialog.h"

#include "requestproblem.h"
#include "sagajson.h"
#include "sagastatus.h"

#include <QCheckBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QRegularExpressionValidator>
#include <QStyle>
#include <QStyleOptionFrame>
#include <QVBoxLayout>

namespace {
// The server's reason ("order can be retried after the required corrections")
// as a sentence: capital first letter, final full stop.
QString sentence(const QString &reason)
{
    QString text = reason.trimmed();
    if (text.isEmpty())
        return text;
    text[0] = text.at(0).toUpper();
    if (!text.endsWith(QLatin1Char('.')) && !text.endsWith(QLatin1Char('!')) && !text.endsWith(QLatin1Char('?')))
        text += QLatin1Char('.');
    return text;
}

QString requiredPaymentHint()
{
    return RetryDialog::tr("required: a new payment method id");
}

QString optionalPaymentHint()
{
    return RetryDialog::tr("empty: keep the current one");
}
} // namespace

RetryDialog::RetryDialog(const QString &orderNumber, const RetryEligibility &eligibility,
                         QWidget *parent)
    : QDialog(parent)
{
    setWindowTitle(tr("Retry %1").arg(orderNumber));
    m_paymentRequired = eligibility.requiredActions.contains(QLatin1String("UPDATE_PAYMENT_METHOD"));
    m_addressRequired = eligibility.requiredActions.contains(QLatin1String("UPDATE_SHIPPING_ADDRESS"));

    auto *layout = new QVBoxLayout(this);
    m_intro = new QLabel(this);
    m_intro->setWordWrap(true);
    // Numbered like the engine's executions (attemptNumber): the first run is
    // attempt 1, so retry N is attempt N + 1. A retry is a new execution that runs
    // every step again from the first (app/engine/retrypolicy.h): the failed
    // attempt's completed steps were compensated, so none of them still holds.
    const int retry = eligibility.retryCount + 1;
    QString text = tr("Retry %1 of %2 (attempt %3). The saga runs again from the start: %4, %5 and %6, "
                      "with the corrections below.")
                       .arg(retry)
                       .arg(eligibility.maxRetries)
                       .arg(retry + 1)
                       .arg(stepDisplayName(SagaStep::Inventory), stepDisplayName(SagaStep::Payment),
                            stepDisplayName(SagaStep::Shipping));
    m_introStart = text;
    if (!eligibility.reason.trimmed().isEmpty())
        text += QLatin1Char(' ') + sentence(eligibility.reason);
    m_intro->setText(text);
    layout->addWidget(m_intro);

    auto *paymentForm = new QFormLayout;
    m_payment = new QLineEdit(this);
    m_payment->setObjectName(QStringLiteral("paymentMethod"));
    // Wide enough for either hint (it was cut to "leave empty to k…").
    {
        QStyleOptionFrame option;
        option.initFrom(m_payment);
        const int hint = qMax(m_payment->fontMetrics().horizontalAdvance(requiredPaymentHint()),
                              m_payment->fontMetrics().horizontalAdvance(optionalPaymentHint()));
        const QSize text(hint + 8, m_payment->fontMetrics().height());
        m_payment->setMinimumWidth(style()->sizeFromContents(QStyle::CT_LineEdit, &option, text, m_payment).width());
    }
    m_paymentLabel = new QLabel(this);
    m_paymentLabel->setBuddy(m_payment);
    paymentForm->addRow(m_paymentLabel, m_payment);
    layout->addLayout(paymentForm);

    m_addressGroup = new QGroupBox(tr("Correct the shipping &address"), this);
    m_addressGroup->setCheckable(true);
    auto *form = new QFormLayout(m_addressGroup);
    m_street = new QLineEdit(m_addressGroup);
    m_city = new QLineEdit(m_addressGroup);
    m_state = new QLineEdit(m_addressGroup);
    m_postalCode = new QLineEdit(m_addressGroup);
    m_country = new QLineEdit(m_addressGroup);
    m_country->setMaxLength(2);
    m_country->setPlaceholderText(tr("two letters, e.g. US"));
    // ISO 3166-1 alpha-2: letters only, shown as typed in upper case.
    m_country->setValidator(new QRegularExpressionValidator(QRegularExpression(QStringLiteral("[A-Za-z]{0,2}")), m_country));
    connect(m_country, &QLineEdit::textEdited, this, [this](const QString &text) {
        const QString upper = text.toUpper();
        if (upper != text) {
            const int cursor = m_country->cursorPosition();
            m_country->setText(upper);
            m_country->setCursorPosition(cursor);
        }
    });
    form->addRow(tr("Street:"), m_street);
    form->addRow(tr("City:"), m_city);
    form->addRow(tr("State:"), m_state);
    form->addRow(tr("Postal code:"), m_postalCode);
    form->addRow(tr("Country:"), m_country);
    layout->addWidget(m_addressGroup);

    m_problem = new QLabel(this);
    m_problem->setObjectName(QStringLiteral("problem"));
    m_problem->setWordWrap(true);
    m_problem->setStyleSheet(QStringLiteral("color: #C5221F;"));
    layout->addWidget(m_problem);

    m_buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    m_buttons->button(QDialogButtonBox::Ok)->setText(tr("&Retry"));
    connect(m_buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(m_buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    layout->addWidget(m_buttons);

    for (QLineEdit *edit : {m_payment, m_street, m_city, m_state, m_postalCode, m_country})
        connect(edit, &QLineEdit::textChanged, this, &RetryDialog::updateOk);
    connect(m_addressGroup, &QGroupBox::toggled, this, &RetryDialog::updateOk);
    showRequirements();
}

void RetryDialog::showRequirements()
{
    m_payment->setPlaceholderText(m_paymentRequired ? requiredPaymentHint() : optionalPaymentHint());
    m_paymentLabel->setText(m_paymentRequired ? tr("New &payment method*:") : tr("New &payment method:"));
    m_addressGroup->setChecked(m_addressRequired);
    updateOk();
}

void RetryDialog::setFailureInjected()
{
    if (!m_paymentRequired && !m_addressRequired)
        return; // nothing asked: the server's reason stands
    m_paymentRequired = false;
    m_addressRequired = false;
    // (Instead of the server's "after the required corrections".)
    m_intro->setText(m_introStart + QLatin1Char(' ')
                     + tr("The failure was injected (Failure Injection panel) for a demo: nothing about the order "
                          "needs correcting, so it can be retried as it is."));
    showRequirements();
}

void RetryDialog::setCurrentOrder(const QString &paymentMethodId, const ShippingAddress &address)
{
    m_currentKnown = true;
    m_currentPayment = paymentMethodId;
    m_currentAddress = address;
    if (!m_paymentRequired)
        m_payment->setText(paymentMethodId);
    m_street->setText(address.street);
    m_city->setText(address.city);
    m_state->setText(address.state);
    m_postalCode->setText(address.postalCode);
    m_country->setText(address.country);
    updateOk();
}

ShippingAddress RetryDialog::enteredAddress() const
{
    return ShippingAddress{m_street->text().trimmed(), m_city->text().trimmed(), m_state->text().trimmed(),
                           m_postalCode->text().trimmed(), m_country->text().trimmed().toUpper()};
}

QString RetryDialog::problemText() const
{
    const QString payment = m_payment->text().trimmed();
    if (m_paymentRequired && payment.isEmpty())
        return tr("Payment method: enter a new payment method id.");
    if (m_paymentRequired && m_currentKnown && payment == m_currentPayment)
        return tr("Payment method must differ from the one that failed (%1).").arg(m_currentPayment);
    if (m_addressRequired && !m_addressGroup->isChecked())
        return tr("Shipping address: correct it to retry.");
    // saga-server's own rules for a retry body (lengths, text it can keep).
    const Parsed<RetryRequest> parsed = SagaJson::checkRetryRequest(request(QUuid()));
    if (!parsed.ok())
        return requestProblemText(parsed.field, parsed.error);
    if (!m_addressGroup->isChecked())
        return {};
    static const QRegularExpression twoLetters(QStringLiteral("^[A-Z]{2}$"));
    if (!twoLetters.match(m_country->text().trimmed().toUpper()).hasMatch())
        return tr("Country must be a two-letter ISO 3166 code, e.g. US or DE.");
    if (m_addressRequired && m_currentKnown && enteredAddress() == m_currentAddress)
        return tr("Shipping address: change the address that failed.");
    return {};
}

bool RetryDialog::isAcceptable() const
{
    return problemText().isEmpty();
}

void RetryDialog::updateOk()
{
    const QString problem = problemText();
    m_buttons->button(QDialogButtonBox::Ok)->setEnabled(problem.isEmpty());
    m_problem->setText(problem);
    m_problem->setVisible(!problem.isEmpty());
}

RetryRequest RetryDialog::request(const QUuid &orderId) const
{
    RetryRequest r;
    r.orderId = orderId;
    const QString payment = m_payment->text().trimmed();
    if (!payment.isEmpty() && !(m_currentKnown && payment == m_currentPayment))
        r.paymentMethodId = payment;
    if (m_addressGroup->isChecked())
        r.shippingAddress = enteredAddress();
    return r;
}
