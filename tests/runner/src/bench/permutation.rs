//! Whether two drivers' measurements differ by more than the run-to-run spread explains: the
//! Wilcoxon rank-sum (Mann-Whitney) test, by permutation. If which driver a measurement came
//! from did not matter, every way of splitting the pooled measurements into groups of the same
//! sizes would be as likely as the real one; `p` is the share of splits whose rank sums lie at
//! least as far from their expected value as the real one's.

/// Pooled sizes up to this are split every possible way (2^20 masks); larger ones are sampled.
const EXACT_UP_TO: usize = 20;
const SAMPLED_SPLITS: u32 = 20_000;

/// Ranks from 1 of `values`, tied values sharing their average rank.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end hold ranks start+1..=end.
        let average = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = average;
        }
        start = end;
    }
    ranks
}

/// Two-sided p-value of `a` and `b` coming from the same distribution; `None` when either has
/// fewer than two finite values (one measurement, like a module's size, has no spread).
pub fn rank_sum_p(a: &[f64], b: &[f64]) -> Option<f64> {
    let a: Vec<f64> = a.iter().copied().filter(|x| x.is_finite()).collect();
    let b: Vec<f64> = b.iter().copied().filter(|x| x.is_finite()).collect();
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let pooled: Vec<f64> = a.iter().chain(&b).copied().collect();
    let ranks = ranks(&pooled);
    let expected = a.len() as f64 * (pooled.len() + 1) as f64 / 2.0;
    // How far the rank sum of the group holding the indices given lies from its expectation.
    let distance = |group: &mut dyn Iterator<Item = usize>| {
        let sum: f64 = group.map(|i| ranks[i]).sum();
        (sum - expected).abs()
    };
    // Rounding must not make the real split count as less extreme than itself.
    let observed = distance(&mut (0..a.len())) - 1e-9;
    let (mut hits, mut total) = (0u64, 0u64);
    if pooled.len() <= EXACT_UP_TO {
        for mask in 0u32..(1 << pooled.len()) {
            if mask.count_ones() as usize == a.len() {
                total += 1;
                let mut group = (0..pooled.len()).filter(|&i| mask & (1 << i) != 0);
                hits += u64::from(distance(&mut group) >= observed);
            }
        }
        return Some(hits as f64 / total as f64);
    }
    // Random splits from a fixed seed, so that a table is reproducible; the real split
    // counts once more so that p is never 0.
    let mut rng = SplitMix64(0x5eed);
    let mut order: Vec<usize> = (0..pooled.len()).collect();
    for _ in 0..SAMPLED_SPLITS {
        for i in (1..order.len()).rev() {
            order.swap(i, (rng.next() % (i as u64 + 1)) as usize);
        }
        total += 1;
        hits += u64::from(distance(&mut order[..a.len()].iter().copied()) >= observed);
    }
    Some((hits + 1) as f64 / (total + 1) as f64)
}

/// The smallest p an exact test can give for groups of `n` and `m`: two splits of all
/// `C(n + m, n)` (the real one and its mirror image, when the groups are the same size).
pub fn smallest_p(n: usize, m: usize) -> f64 {
    let mut ways = 1f64;
    for i in 0..n {
        ways = ways * (m + n - i) as f64 / (i + 1) as f64;
    }
    if n == m {
        2.0 / ways
    } else {
        1.0 / ways
    }
}

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separated_groups_get_the_smallest_p() {
        let c = [10.0, 11.0, 12.0, 13.0, 14.0];
        let ours = [20.0, 21.0, 22.0, 23.0, 24.0];
        let p = rank_sum_p(&c, &ours).expect("a p-value");
        assert!((p - smallest_p(5, 5)).abs() < 1e-12, "p = {p}");
        assert!((smallest_p(5, 5) - 2.0 / 252.0).abs() < 1e-12);
    }

    #[test]
    fn interleaved_groups_are_not_told_apart() {
        let c = [10.0, 12.0, 14.0, 16.0, 18.0];
        let ours = [11.0, 13.0, 15.0, 17.0, 19.0];
        let p = rank_sum_p(&c, &ours).expect("a p-value");
        assert!(p > 0.5, "p = {p}");
    }

    #[test]
    fn ties_share_their_rank() {
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), [3.5, 1.0, 3.5, 2.0]);
    }

    #[test]
    fn identical_groups_give_one() {
        assert_eq!(rank_sum_p(&[5.0, 5.0, 5.0], &[5.0, 5.0, 5.0]), Some(1.0));
    }

    #[test]
    fn too_few_values_give_none() {
        assert_eq!(rank_sum_p(&[1.0], &[2.0, 3.0]), None);
        assert_eq!(rank_sum_p(&[1.0, f64::NAN], &[2.0, 3.0]), None);
    }

    #[test]
    fn large_groups_are_sampled_and_still_separate() {
        let c: Vec<f64> = (0..15).map(f64::from).collect();
        let ours: Vec<f64> = (100..115).map(f64::from).collect();
        let p = rank_sum_p(&c, &ours).expect("a p-value");
        assert!(p < 0.001, "p = {p}");
        let mixed: Vec<f64> = (0..15).map(|i| f64::from(i) + 0.5).collect();
        assert!(rank_sum_p(&c, &mixed).expect("a p-value") > 0.3);
    }
}
