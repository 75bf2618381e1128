//! The double-entry ledger, pure: accounts, transactions whose legs sum to zero per
//! currency (checked before anything is written; a violation is a bug, never stored),
//! two-phase transfers in the manner of TigerBeetle (pending → posted, fully or in part,
//! or voided), balances, and the invariants the whole ledger keeps.
//!
//! A leg's amount is signed: a credit is positive, a debit negative; an account's balance
//! is its credits minus its debits. Money moves from the clearing account (what the
//! provider collected) into an order's escrow, and out of escrow to refunds, platform fees
//! and the seller's pending earnings; cleared earnings move to the seller's available
//! balance, and withdrawals from there to payouts.

use std::collections::BTreeMap;

use gigmesh_types::Currency;

/// The kinds of ledger accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccountKind {
    /// What the provider collected from buyers (one per currency; goes negative).
    Clearing,
    /// An order's paid money, held until the order closes.
    Escrow,
    /// A seller's earnings waiting for the clearance period.
    SellerPending,
    /// A seller's cleared earnings, which may be withdrawn.
    SellerAvailable,
    /// What the marketplace kept.
    PlatformFees,
    /// What went back to buyers.
    Refunds,
    /// What was paid out to sellers.
    Payouts,
}

impl AccountKind {
    /// Every kind, in summary order.
    pub const ALL: [AccountKind; 7] = [
        AccountKind::Clearing,
        AccountKind::Escrow,
        AccountKind::SellerPending,
        AccountKind::SellerAvailable,
        AccountKind::PlatformFees,
        AccountKind::Refunds,
        AccountKind::Payouts,
    ];

    /// The name in APIs and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clearing => "clearing",
            Self::Escrow => "escrow",
            Self::SellerPending => "seller_pending",
            Self::SellerAvailable => "seller_available",
            Self::PlatformFees => "platform_fees",
            Self::Refunds => "refunds",
            Self::Payouts => "payouts",
        }
    }

    /// The kind a stored name names.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }
}

/// One ledger account: its kind and, for per-order and per-seller kinds, whose it is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Account {
    /// The kind.
    pub kind: AccountKind,
    /// The order (escrow) or seller (seller_pending, seller_available); empty otherwise.
    pub owner: String,
}

impl Account {
    /// The clearing account.
    pub fn clearing() -> Self {
        Self::of(AccountKind::Clearing, "")
    }
    /// An order's escrow.
    pub fn escrow(order_id: &str) -> Self {
        Self::of(AccountKind::Escrow, order_id)
    }
    /// A seller's pending earnings.
    pub fn seller_pending(seller_id: &str) -> Self {
        Self::of(AccountKind::SellerPending, seller_id)
    }
    /// A seller's available balance.
    pub fn seller_available(seller_id: &str) -> Self {
        Self::of(AccountKind::SellerAvailable, seller_id)
    }
    /// The marketplace's fees.
    pub fn platform_fees() -> Self {
        Self::of(AccountKind::PlatformFees, "")
    }
    /// Refunds to buyers.
    pub fn refunds() -> Self {
        Self::of(AccountKind::Refunds, "")
    }
    /// Payouts to sellers.
    pub fn payouts() -> Self {
        Self::of(AccountKind::Payouts, "")
    }

    fn of(kind: AccountKind, owner: &str) -> Self {
        Self {
            kind,
            owner: owner.to_owned(),
        }
    }

    /// The account's key as stored: `kind` or `kind:owner`.
    pub fn key(&self) -> String {
        if self.owner.is_empty() {
            self.kind.as_str().to_owned()
        } else {
            format!("{}:{}", self.kind.as_str(), self.owner)
        }
    }
}

/// One leg of a transaction: a signed amount (credit positive) on one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leg {
    /// The account.
    pub account: Account,
    /// Minor units; credit positive, debit negative, never zero.
    pub amount_minor: i64,
}

/// Why a transaction cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// The legs do not sum to zero.
    #[error("the legs of a {kind} transaction sum to {sum}, not zero")]
    Unbalanced {
        /// What it was.
        kind: &'static str,
        /// Their sum.
        sum: i128,
    },
    /// A transaction needs two legs or more, none of them zero.
    #[error("a {kind} transaction needs at least two non-zero legs")]
    Degenerate {
        /// What it was.
        kind: &'static str,
    },
    /// A two-phase posting is larger than what was held.
    #[error("cannot post {posted} of a pending transfer of {pending}")]
    PostAbovePending {
        /// Asked.
        posted: i64,
        /// Held.
        pending: i64,
    },
}

/// A balanced set of legs in one currency: what the store writes as one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// What it records (`payment`, `settlement`, `clearance`, `withdrawal`, `refund`…).
    pub kind: &'static str,
    /// Its currency.
    pub currency: Currency,
    /// Its legs, summing to zero.
    pub legs: Vec<Leg>,
}

impl Transaction {
    /// A transaction of `legs` (zero legs dropped), refused unless they balance.
    pub fn new(
        kind: &'static str,
        currency: Currency,
        legs: impl IntoIterator<Item = (Account, i64)>,
    ) -> Result<Self, LedgerError> {
        let legs: Vec<Leg> = legs
            .into_iter()
            .filter(|(_, amount)| *amount != 0)
            .map(|(account, amount_minor)| Leg {
                account,
                amount_minor,
            })
            .collect();
        let transaction = Self {
            kind,
            currency,
            legs,
        };
        transaction.check()?;
        Ok(transaction)
    }

    /// `amount` from `debit` to `credit`.
    pub fn transfer(
        kind: &'static str,
        currency: Currency,
        debit: Account,
        credit: Account,
        amount_minor: i64,
    ) -> Result<Self, LedgerError> {
        Self::new(
            kind,
            currency,
            [(debit, -amount_minor), (credit, amount_minor)],
        )
    }

    /// Whether the legs balance (two or more, none zero, summing to zero).
    pub fn check(&self) -> Result<(), LedgerError> {
        if self.legs.len() < 2 || self.legs.iter().any(|leg| leg.amount_minor == 0) {
            return Err(LedgerError::Degenerate { kind: self.kind });
        }
        let sum: i128 = self
            .legs
            .iter()
            .map(|leg| i128::from(leg.amount_minor))
            .sum();
        if sum != 0 {
            return Err(LedgerError::Unbalanced {
                kind: self.kind,
                sum,
            });
        }
        Ok(())
    }

    /// The posting of (part of) this pending transaction: the same legs scaled to
    /// `amount_minor` of the first credit, which must not exceed what was held. Only
    /// two-leg transfers are held in two phases.
    pub fn posting(&self, amount_minor: i64) -> Result<Self, LedgerError> {
        let held = self.held_amount();
        if amount_minor > held || amount_minor < 0 {
            return Err(LedgerError::PostAbovePending {
                posted: amount_minor,
                pending: held,
            });
        }
        let legs = self.legs.iter().map(|leg| {
            (
                leg.account.clone(),
                leg.amount_minor.signum() * amount_minor,
            )
        });
        Self::new(self.kind, self.currency, legs)
    }

    /// What a two-phase transfer holds: its credited amount.
    pub fn held_amount(&self) -> i64 {
        self.legs
            .iter()
            .filter(|leg| leg.amount_minor > 0)
            .map(|leg| leg.amount_minor)
            .sum()
    }
}

/// A balance: posted credits minus debits, and what pending transfers hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balance {
    /// Posted credits minus debits.
    pub posted: i64,
    /// Pending debits (held, not yet moved).
    pub pending_debits: i64,
    /// Pending credits (on their way).
    pub pending_credits: i64,
}

impl Balance {
    /// What may still be spent from it: posted less pending debits.
    pub fn spendable(self) -> i64 {
        self.posted - self.pending_debits
    }
}

/// Every account's balance per currency, as the store sums them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Balances {
    /// Per account and currency.
    pub accounts: BTreeMap<(Account, Currency), Balance>,
}

impl Balances {
    /// Applies a posted transaction.
    pub fn post(&mut self, transaction: &Transaction) {
        for leg in &transaction.legs {
            self.entry(&leg.account, transaction.currency).posted += leg.amount_minor;
        }
    }

    /// Applies a pending transaction (held, not moved).
    pub fn hold(&mut self, transaction: &Transaction) {
        for leg in &transaction.legs {
            let balance = self.entry(&leg.account, transaction.currency);
            if leg.amount_minor < 0 {
                balance.pending_debits -= leg.amount_minor;
            } else {
                balance.pending_credits += leg.amount_minor;
            }
        }
    }

    /// Releases a pending transaction (posted or voided).
    pub fn release(&mut self, transaction: &Transaction) {
        for leg in &transaction.legs {
            let balance = self.entry(&leg.account, transaction.currency);
            if leg.amount_minor < 0 {
                balance.pending_debits += leg.amount_minor;
            } else {
                balance.pending_credits -= leg.amount_minor;
            }
        }
    }

    /// One account's balance.
    pub fn of(&self, account: &Account, currency: Currency) -> Balance {
        self.accounts
            .get(&(account.clone(), currency))
            .copied()
            .unwrap_or_default()
    }

    fn entry(&mut self, account: &Account, currency: Currency) -> &mut Balance {
        self.accounts
            .entry((account.clone(), currency))
            .or_default()
    }

    /// Sums per account kind and currency.
    pub fn by_kind(&self) -> BTreeMap<(AccountKind, Currency), Balance> {
        let mut sums: BTreeMap<(AccountKind, Currency), Balance> = BTreeMap::new();
        for ((account, currency), balance) in &self.accounts {
            let sum = sums.entry((account.kind, *currency)).or_default();
            sum.posted += balance.posted;
            sum.pending_debits += balance.pending_debits;
            sum.pending_credits += balance.pending_credits;
        }
        sums
    }
}

/// What the invariants are checked against, beside the balances: which orders are closed
/// and what each seller's cleared earnings and payouts add up to (from the journal).
#[derive(Debug, Clone, Default)]
pub struct LedgerFacts {
    /// Orders that are closed (settled, or closed before payment).
    pub closed_orders: Vec<String>,
    /// Per seller and currency: cleared earnings, posted payouts.
    pub seller_totals: BTreeMap<(String, Currency), (i64, i64)>,
}

/// Every invariant that does not hold, in words.
pub fn violations(balances: &Balances, facts: &LedgerFacts) -> Vec<String> {
    let mut found = Vec::new();
    let mut per_currency: BTreeMap<Currency, (i128, i128, i128)> = BTreeMap::new();
    for ((_, currency), balance) in &balances.accounts {
        let sum = per_currency.entry(*currency).or_default();
        sum.0 += i128::from(balance.posted);
        sum.1 += i128::from(balance.pending_debits);
        sum.2 += i128::from(balance.pending_credits);
    }
    for (currency, (posted, pending_debits, pending_credits)) in per_currency {
        if posted != 0 {
            found.push(format!(
                "posted balances in {currency} sum to {posted}, not zero"
            ));
        }
        if pending_debits != pending_credits {
            found.push(format!(
                "pending debits ({pending_debits}) and credits ({pending_credits}) in {currency} differ"
            ));
        }
    }
    for ((account, currency), balance) in &balances.accounts {
        let must_not_be_negative = matches!(
            account.kind,
            AccountKind::Escrow | AccountKind::SellerPending | AccountKind::SellerAvailable
        );
        if must_not_be_negative && (balance.posted < 0 || balance.spendable() < 0) {
            found.push(format!(
                "{} holds {} {currency} (spendable {}): below zero",
                account.key(),
                balance.posted,
                balance.spendable()
            ));
        }
        if account.kind == AccountKind::Escrow
            && balance.posted != 0
            && facts.closed_orders.contains(&account.owner)
        {
            found.push(format!(
                "closed order {} still holds {} {currency} in escrow",
                account.owner, balance.posted
            ));
        }
    }
    for ((seller, currency), (cleared, paid_out)) in &facts.seller_totals {
        let available = balances.of(&Account::seller_available(seller), *currency);
        if available.posted != cleared - paid_out {
            found.push(format!(
                "seller {seller} has {} {currency} available, but cleared {cleared} less paid out {paid_out} is {}",
                available.posted,
                cleared - paid_out
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const USD: Currency = Currency::USD;

    #[test]
    fn unbalanced_or_empty_transactions_are_refused() {
        let error = Transaction::new(
            "settlement",
            USD,
            [(Account::escrow("o"), -100), (Account::refunds(), 99)],
        )
        .expect_err("unbalanced");
        assert_eq!(
            error,
            LedgerError::Unbalanced {
                kind: "settlement",
                sum: -1
            }
        );
        let error =
            Transaction::transfer("payment", USD, Account::clearing(), Account::escrow("o"), 0)
                .expect_err("zero");
        assert_eq!(error, LedgerError::Degenerate { kind: "payment" });
    }

    #[test]
    fn a_pending_transfer_posts_in_part_and_never_above_what_it_holds() {
        let pending = Transaction::transfer(
            "withdrawal",
            USD,
            Account::seller_available("s"),
            Account::payouts(),
            1_000,
        )
        .expect("valid");
        let posting = pending.posting(600).expect("partial");
        assert_eq!(posting.held_amount(), 600);
        assert!(pending.posting(1_001).is_err());
    }

    /// One operation of the model marketplace.
    #[derive(Debug, Clone)]
    enum Operation {
        Pay {
            order: usize,
            total: i64,
        },
        Settle {
            order: usize,
            refund_bp: i64,
            fee_bp: i64,
        },
        Clear {
            order: usize,
        },
        Withdraw {
            seller: usize,
            amount: i64,
            succeeds: bool,
        },
    }

    fn operation() -> impl Strategy<Value = Operation> {
        prop_oneof![
            (0..6usize, 1..100_000i64).prop_map(|(order, total)| Operation::Pay { order, total }),
            (0..6usize, 0..=10_000i64, 0..=10_000i64).prop_map(|(order, refund_bp, fee_bp)| {
                Operation::Settle {
                    order,
                    refund_bp,
                    fee_bp,
                }
            }),
            (0..6usize).prop_map(|order| Operation::Clear { order }),
            (0..3usize, 1..50_000i64, any::<bool>()).prop_map(|(seller, amount, succeeds)| {
                Operation::Withdraw {
                    seller,
                    amount,
                    succeeds,
                }
            }),
        ]
    }

    #[derive(Default)]
    struct Model {
        balances: Balances,
        facts: LedgerFacts,
        paid: BTreeMap<usize, i64>,
        pending_earnings: BTreeMap<usize, i64>,
    }

    impl Model {
        fn seller_of(order: usize) -> String {
            format!("seller-{}", order % 3)
        }

        fn apply(&mut self, operation: &Operation) {
            match *operation {
                Operation::Pay { order, total } => {
                    if self.paid.contains_key(&order) {
                        return;
                    }
                    let payment = Transaction::transfer(
                        "payment",
                        USD,
                        Account::clearing(),
                        Account::escrow(&order.to_string()),
                        total,
                    )
                    .expect("valid");
                    self.balances.post(&payment);
                    self.paid.insert(order, total);
                }
                Operation::Settle {
                    order,
                    refund_bp,
                    fee_bp,
                } => {
                    let id = order.to_string();
                    if !self.paid.contains_key(&order) || self.facts.closed_orders.contains(&id) {
                        return;
                    }
                    let escrow = self.balances.of(&Account::escrow(&id), USD).posted;
                    let refund = escrow * refund_bp / 10_000;
                    let fee = (escrow - refund) * fee_bp / 10_000;
                    let earnings = escrow - refund - fee;
                    let seller = Self::seller_of(order);
                    let settlement = Transaction::new(
                        "settlement",
                        USD,
                        [
                            (Account::escrow(&id), -escrow),
                            (Account::refunds(), refund),
                            (Account::platform_fees(), fee),
                            (Account::seller_pending(&seller), earnings),
                        ],
                    )
                    .expect("a settlement balances");
                    self.balances.post(&settlement);
                    self.facts.closed_orders.push(id);
                    self.pending_earnings.insert(order, earnings);
                }
                Operation::Clear { order } => {
                    let Some(earnings) = self.pending_earnings.remove(&order) else {
                        return;
                    };
                    if earnings == 0 {
                        return;
                    }
                    let seller = Self::seller_of(order);
                    let clearance = Transaction::transfer(
                        "clearance",
                        USD,
                        Account::seller_pending(&seller),
                        Account::seller_available(&seller),
                        earnings,
                    )
                    .expect("valid");
                    self.balances.post(&clearance);
                    self.facts.seller_totals.entry((seller, USD)).or_default().0 += earnings;
                }
                Operation::Withdraw {
                    seller,
                    amount,
                    succeeds,
                } => {
                    let seller = format!("seller-{seller}");
                    let available = self.balances.of(&Account::seller_available(&seller), USD);
                    if amount > available.spendable() {
                        return;
                    }
                    let pending = Transaction::transfer(
                        "withdrawal",
                        USD,
                        Account::seller_available(&seller),
                        Account::payouts(),
                        amount,
                    )
                    .expect("valid");
                    self.balances.hold(&pending);
                    self.balances.release(&pending);
                    if succeeds {
                        self.balances.post(&pending.posting(amount).expect("held"));
                        self.facts.seller_totals.entry((seller, USD)).or_default().1 += amount;
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn any_sequence_of_valid_operations_keeps_every_invariant(
            operations in proptest::collection::vec(operation(), 1..60)
        ) {
            let mut model = Model::default();
            for operation in &operations {
                model.apply(operation);
                let found = violations(&model.balances, &model.facts);
                prop_assert!(found.is_empty(), "after {:?}: {:?}", operation, found);
            }
        }
    }

    #[test]
    fn a_closed_order_with_escrow_left_is_a_violation() {
        let mut balances = Balances::default();
        balances.post(
            &Transaction::transfer(
                "payment",
                USD,
                Account::clearing(),
                Account::escrow("o"),
                500,
            )
            .expect("valid"),
        );
        let facts = LedgerFacts {
            closed_orders: vec!["o".to_owned()],
            ..LedgerFacts::default()
        };
        let found = violations(&balances, &facts);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("closed order o"), "{found:?}");
    }
}
